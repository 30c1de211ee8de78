using System.CommandLine;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// Shows an <see cref="ExplanationSession"/> at work for <c>explain</c>, <c>score</c> and <c>run</c>: a progress bar on
/// stderr for the step and for the control the session runs after it, then the summary table on stdout.
/// </summary>
internal static class ExplanationReport
{
    public const string NoControl = "none";
    public const string ShuffledControlName = "shuffled";

    public static Option<string> ControlOption() => new("--control")
    {
        Description = "shuffled: also score every neuron with another neuron's explanation (same layer, seeded); its mean must sit near 0",
        DefaultValueFactory = _ => NoControl,
    };

    /// <summary>The control <c>--control</c> names.</summary>
    public static ControlKind Control(string control) => control switch
    {
        NoControl => ControlKind.None,
        ShuffledControlName => ControlKind.Shuffled,
        _ => throw new NeuronExplainerException($"--control '{control}' is not known; expected {NoControl} or {ShuffledControlName}"),
    };

    /// <summary>Runs the step (and the control after it) over the neurons <c>--layers</c> and <c>--neurons</c> select.</summary>
    public static async Task<int> RunAsync(ParseResult parse, ExplanationOptions options, INeuronStore store, ExplanationSession session, RunStep step,
        CancellationToken cancellationToken)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var neurons = options.SelectNeurons(parse, store, session);

        string label = step switch { RunStep.Explain => "explain", RunStep.Score => "score", _ => "explain+score" };
        var counts = await WithProgressAsync(error, label, neurons.Count, progress =>
            session.RunAsync(store, store, neurons, step, progress, cancellationToken));
        var controlCounts = session.ControlFollows(step, counts)
            ? await WithProgressAsync(error, "control", neurons.Count, progress => session.RunControlAsync(store, store, neurons, progress, cancellationToken))
            : null;

        PrintSummary(output, store, neurons, session, step, counts, controlCounts);
        if (counts.StopReason is not null || controlCounts?.StopReason is not null)
        {
            error.WriteLine($"error: stopped early: {SettingFlags.Text(counts.StopReason ?? controlCounts!.StopReason!)}; finished neurons are stored, run again to resume");
            return CliApp.Failure;
        }
        if (session.Usage is { FailedCalls: > 0 } usage)
        {
            // A neuron whose call failed is stored as failed with the server's error; the next run retries it.
            error.WriteLine($"error: {usage.FailedCalls} LLM call(s) failed after their retries, so the neurons that needed them are stored as failed with the server's error (see the 'failed' column); run again to retry them");
            return CliApp.Failure;
        }
        return 0;
    }

    static Task<RunCounts> WithProgressAsync(TextWriter error, string label, int total, Func<Action<RunProgress>, Task<RunCounts>> work) =>
        ConsoleProgress.RunAsync(error, label, "neurons", report =>
        {
            report(0, total);
            return work(p => report(p.Finished, p.Total));
        });

    static void PrintSummary(TextWriter output, INeuronStore store, IReadOnlyList<NeuronId> neurons, ExplanationSession session, RunStep step,
        RunCounts counts, RunCounts? control)
    {
        var console = TableConsole.For(output);
        string pair = $"explainer {session.Explainer.Name}, simulator {session.Simulator.Name}";
        if (session.Settings.DryRun)
        {
            console.WriteLine($"Dry run ({pair}): {counts.Estimated} neurons estimated, {counts.AlreadyDone} already done; nothing was sent or stored.");
            PrintUsage(console, session, store);
            PrintPerNeuron(console, session, counts.Estimated);
            return;
        }
        console.WriteLine(session.Protocol.Describe() + (session.SimulatorChoice is { } choice ? $"; {choice}" : "") + ".");
        console.WriteLine($"{Verb(step)} {counts.Stored} neurons, {counts.AlreadyDone} already done"
            + (counts.NotExplained > 0 ? $", {counts.NotExplained} not explained yet (run explain first)" : "")
            + (counts.Stopped > 0 ? $", {counts.Stopped} not started (stopped)" : "")
            + (counts.RecordMissing > 0 ? $", {counts.RecordMissing} kept as stored without the scores asked for (the store has no activation record of them to score on)" : "")
            + (control is null ? "" : $"; control: {control.Stored} scored, {control.AlreadyDone} already done") + $" ({pair}).");

        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "layer", "neurons", "done", "failed", "no act.", "pending", "not run", "undefined", "mean", "mean (undef. = 0)", "median", ">= 0.8", ">= 0.8 (undef. = 0)", "control mean (n)" })
            table.AddColumn(new TableColumn(column).RightAligned());
        foreach (var row in session.Summarize(store, neurons))
            table.AddRow(row.Layer?.ToString(CultureInfo.InvariantCulture) ?? "all", Int(row.Neurons), Int(row.Done), Int(row.Failed), Int(row.NoActivations),
                Int(row.Pending), Int(row.Missing), Int(row.Scores.Undefined), Score(row.Scores.Mean), Score(row.Scores.MeanUndefinedAsZero), Score(row.Median),
                Share(row.Scores.ShareAtLeastGood), Share(row.Scores.ShareAtLeastGoodUndefinedAsZero),
                row.ControlScored == 0 ? "-" : $"{Score(row.ControlMean)} ({row.ControlScored})");
        console.Write(table);
        PrintMethods(console, session.SummarizeByMethod(store, neurons));
        if (session.NoValueShares(store, neurons) is { } shares)
            console.WriteLine("Value slots without a value 0..10 in the top logprobs (scored 0): " + string.Join(", ", shares.Select(r =>
                string.Create(CultureInfo.InvariantCulture, $"{(r.Layer is int l ? $"layer {l}" : "all")} {r.Share:0.0%} ({r.NoValueSlots} of {r.Slots})"))));
        PrintUsage(console, session, store);
    }

    /// <summary>Per layer and method: the mean over defined scores, how many, how many failed, and the shuffled control's mean beside it.</summary>
    static void PrintMethods(IAnsiConsole console, IReadOnlyList<MethodSummary> rows)
    {
        if (rows.All(r => r.Method == SimulationCorrelationScorer.MethodName)) return;
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "layer", "method", "scored", "undefined", "failed", "mean", "control mean (n)" })
            table.AddColumn(new TableColumn(column).RightAligned());
        foreach (var r in rows)
            table.AddRow(r.Layer?.ToString(CultureInfo.InvariantCulture) ?? "all", r.Method, Int(r.Scores.Defined), Int(r.Scores.Undefined), Int(r.Failed),
                Score(r.Scores.Mean), r.ControlScored == 0 ? "-" : $"{Score(r.ControlMean)} ({r.ControlScored})");
        console.Write(table);
    }

    /// <summary>A dry run's calls, tokens and dollars per estimated neuron for each purpose (explain, simulate, each judging scorer).</summary>
    static void PrintPerNeuron(IAnsiConsole console, ExplanationSession session, int neurons)
    {
        if (session.Usage is not { ByPurpose.Count: > 0 } u || neurons == 0) return;
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "per neuron", "calls", "prompt tokens", "completion tokens", "USD" })
            table.AddColumn(new TableColumn(column).RightAligned());
        foreach (var (purpose, p) in u.ByPurpose.OrderBy(p => p.Key, StringComparer.Ordinal))
            table.AddRow(purpose, PerNeuron(p.Calls), PerNeuron(p.PromptTokens), PerNeuron(p.CompletionTokens),
                (p.Cost / neurons).ToString("0.000000", CultureInfo.InvariantCulture));
        console.Write(table);

        string PerNeuron(double total) => (total / neurons).ToString("0.0", CultureInfo.InvariantCulture);
    }

    static void PrintUsage(IAnsiConsole console, ExplanationSession session, INeuronStore store)
    {
        if (session.Usage is not { } u) return;
        string what = session.Settings.DryRun ? "would send" : "sent";
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"LLM: {what} {u.Calls} calls ({u.CachedCalls} answered from the cache, {u.FailedCalls} failed), {u.PromptTokens} prompt ({u.CachedPromptTokens} served by the provider's prompt cache) + {u.CompletionTokens} completion tokens, ${u.Cost:0.0000}"));
        if (!session.Settings.DryRun)
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Store ledger total: ${store.ListLedger().Sum(e => e.Cost):0.0000}"));
    }

    static string Verb(RunStep step) => step switch { RunStep.Explain => "Explained", RunStep.Score => "Scored", _ => "Explained and scored" };
    static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
    static string Score(double? value) => value?.ToString("0.000", CultureInfo.InvariantCulture) ?? "-";
    static string Share(double? value) => value?.ToString("0.0%", CultureInfo.InvariantCulture) ?? "-";
}
