using System.CommandLine;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// Runs the explain and/or score step of <c>explain</c>, <c>score</c> and <c>run</c> over the selected neurons with a
/// progress bar on stderr, then the shuffled control when asked, and prints the summary table on stdout.
/// </summary>
internal static class ExplanationSession
{
    public const string NoControl = "none";
    public const string ShuffledControlName = "shuffled";

    public static Option<string> ControlOption() => new("--control")
    {
        Description = "shuffled: also score every neuron with another neuron's explanation (same layer, seeded); its mean must sit near 0",
        DefaultValueFactory = _ => NoControl,
    };

    public static void CheckControl(string control)
    {
        if (control is not (NoControl or ShuffledControlName))
            throw new NeuronExplainerException($"--control '{control}' is not known; expected {NoControl} or {ShuffledControlName}");
    }

    /// <summary>Runs the step over the selected neurons with an explainer/simulator pair already set up (and its LLM connection checked).</summary>
    /// <param name="only">When given, only the selected neurons it holds are worked on (e.g. those with explanations to score).</param>
    public static async Task<int> RunAsync(ParseResult parse, ExplanationOptions options, INeuronStore store, ExplanationSetup setup, RunStep step,
        string control, CancellationToken cancellationToken, IReadOnlyCollection<NeuronId>? only = null)
    {
        CheckControl(control);
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var neurons = options.SelectNeurons(parse, store);
        if (only?.ToHashSet() is { } keep) neurons = [.. neurons.Where(keep.Contains)];

        string label = step switch { RunStep.Explain => "explain", RunStep.Score => "score", _ => "explain+score" };
        var counts = await WithProgressAsync(error, label, neurons.Count, progress =>
            new ExplanationRunner(store, store, setup.Flow, setup.Concurrency, setup.DryRun).RunAsync(neurons, step, progress, cancellationToken));

        RunCounts? controlCounts = null;
        if (control == ShuffledControlName && step != RunStep.Explain && counts.StopReason is null && !setup.DryRun)
        {
            var chosen = Chosen(store, neurons, setup.Explainer.Name, setup.Simulator.Name);
            var shuffled = ShuffledControl.Create(setup.Explainer.Name, chosen, setup.Seed);
            var controlFlow = new ExplanationFlow(shuffled, setup.Simulator, setup.FlowOptions with { Samples = 1, Revisions = 0, Control = ControlKind.Shuffled });
            var controlNeurons = shuffled.Neurons.ToList();
            controlCounts = await WithProgressAsync(error, "control", controlNeurons.Count, progress =>
                new ExplanationRunner(store, store, controlFlow, setup.Concurrency).RunAsync(controlNeurons, RunStep.ExplainAndScore, progress, cancellationToken));
        }

        PrintSummary(output, store, neurons, setup, step, counts, controlCounts);
        if (counts.StopReason is not null || controlCounts?.StopReason is not null)
        {
            error.WriteLine($"error: stopped early: {counts.StopReason ?? controlCounts!.StopReason}; finished neurons are stored, run again to resume");
            return CliApp.Failure;
        }
        return 0;
    }

    /// <summary>Each selected neuron's chosen explanation by <paramref name="explainer"/> (done results; of any simulator when null).</summary>
    public static Dictionary<NeuronId, string> Chosen(IExplanationResultStore store, IReadOnlyList<NeuronId> neurons, string explainer, string? simulator)
    {
        var selected = neurons.ToHashSet();
        return neurons.Select(n => n.LayerIndex).Distinct()
            .SelectMany(layer => store.ListScores(layer))
            .Where(s => selected.Contains(s.Neuron) && s.Explainer == explainer && (simulator is null || s.Simulator == simulator)
                && s is { Status: NeuronStatus.Done, Explanation: not null })
            .GroupBy(s => s.Neuron)
            .ToDictionary(g => g.Key, g => g.First().Explanation!);
    }

    static Task<RunCounts> WithProgressAsync(TextWriter error, string label, int total, Func<Action<RunProgress>, Task<RunCounts>> work) =>
        ConsoleProgress.RunAsync(error, label, "neurons", report =>
        {
            report(0, total);
            return work(p => report(p.Finished, p.Total));
        });

    static void PrintSummary(TextWriter output, INeuronStore store, IReadOnlyList<NeuronId> neurons, ExplanationSetup setup, RunStep step,
        RunCounts counts, RunCounts? control)
    {
        var console = TableConsole.For(output);
        string pair = $"explainer {setup.Explainer.Name}, simulator {setup.Simulator.Name}";
        if (setup.DryRun)
        {
            console.WriteLine($"Dry run ({pair}): {counts.Estimated} neurons estimated, {counts.AlreadyDone} already done; nothing was sent or stored.");
            PrintUsage(console, setup, store);
            return;
        }
        console.WriteLine($"{Verb(step)} {counts.Stored} neurons, {counts.AlreadyDone} already done"
            + (counts.NotExplained > 0 ? $", {counts.NotExplained} not explained yet (run explain first)" : "")
            + (counts.Stopped > 0 ? $", {counts.Stopped} not started (stopped)" : "")
            + (control is null ? "" : $"; control: {control.Stored} scored, {control.AlreadyDone} already done") + $" ({pair}).");

        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "layer", "neurons", "done", "failed", "no act.", "pending", "not run", "undefined", "mean", "median", ">= 0.8", "control mean (n)" })
            table.AddColumn(new TableColumn(column).RightAligned());
        foreach (var row in RunSummary.Build(store, neurons, setup.Explainer.Name, setup.Simulator.Name))
            table.AddRow(row.Layer?.ToString(CultureInfo.InvariantCulture) ?? "all", Int(row.Neurons), Int(row.Done), Int(row.Failed), Int(row.NoActivations),
                Int(row.Pending), Int(row.Missing), Int(row.Undefined), Score(row.Mean), Score(row.Median),
                row.ShareAtLeast08 is double share ? share.ToString("0.0%", CultureInfo.InvariantCulture) : "-",
                row.ControlScored == 0 ? "-" : $"{Score(row.ControlMean)} ({row.ControlScored})");
        console.Write(table);
        PrintUsage(console, setup, store);
    }

    static void PrintUsage(IAnsiConsole console, ExplanationSetup setup, INeuronStore store)
    {
        if (setup.Llm is null) return;
        var u = setup.Llm.Usage;
        string what = setup.DryRun ? "would send" : "sent";
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"LLM: {what} {u.Calls} calls ({u.CachedCalls} answered from the cache, {u.FailedCalls} failed), {u.PromptTokens} prompt + {u.CompletionTokens} completion tokens, ${u.Cost:0.0000}"));
        if (!setup.DryRun)
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Store ledger total: ${store.ListLedger().Sum(e => e.Cost):0.0000}"));
    }

    static string Verb(RunStep step) => step switch { RunStep.Explain => "Explained", RunStep.Score => "Scored", _ => "Explained and scored" };
    static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
    static string Score(double? value) => value?.ToString("0.000", CultureInfo.InvariantCulture) ?? "-";
}
