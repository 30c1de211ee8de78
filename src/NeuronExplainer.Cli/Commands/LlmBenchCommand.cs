using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench llm</c>: LLM calls per second against an in-process loopback server that answers every call after a fixed
/// delay, at several concurrencies: the pipeline alone (cache, budget, retries, ledger in a SQLite store) and whole
/// explain+score runs (chat explainer and simulator over synthetic neurons). With delay d and concurrency c, c / d calls
/// per second is the most any client can get; the share of it reached is what the pipeline costs.
/// </summary>
internal static class LlmBenchCommand
{
    const string Model = "bench-chat";

    public static Command Create()
    {
        var delay = new Option<int>("--delay") { Description = "Milliseconds the server waits before each answer", DefaultValueFactory = _ => 200 };
        var concurrency = new Option<int[]>("--concurrency")
        {
            Description = "Calls in flight (repeatable)", DefaultValueFactory = _ => [1, 8, 64, 128], AllowMultipleArgumentsPerToken = true,
        };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds of the pipeline-only rows, after 1 s of warm-up", DefaultValueFactory = _ => 5 };
        var what = new Option<string>("--what") { Description = "Rows to measure: both, pipeline or explain", DefaultValueFactory = _ => "both" };
        var waves = new Option<int>("--waves") { Description = "Explain+score rows: neurons per row = concurrency x waves (41 calls each)", DefaultValueFactory = _ => 2 };
        var command = new Command("llm", """
            Measure LLM calls/s against an in-process loopback server that answers in the OpenAI API's shapes after --delay ms,
            through the pipeline alone and through whole explain+score runs, with peak RSS.

            Example:
              neuron-explainer bench llm --delay 200 --concurrency 1 --concurrency 8 --concurrency 64 --concurrency 128
            """)
        {
            delay, concurrency, seconds, waves, what,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var console = TableConsole.For(parse.InvocationConfiguration.Output);
            var status = parse.InvocationConfiguration.Error;
            var wait = TimeSpan.FromMilliseconds(parse.GetValue(delay));
            var levels = parse.GetValue(concurrency)!;
            string rows = parse.GetValue(what)!;
            if (rows is not ("both" or "pipeline" or "explain")) throw new NeuronExplainerException($"--what '{rows}' is not known; expected both, pipeline or explain");
            if (wait <= TimeSpan.Zero || levels.Any(c => c is < 1 or > 256) || parse.GetValue(seconds) <= 0 || parse.GetValue(waves) < 1)
                throw new NeuronExplainerException("--delay, --seconds and --waves must be positive and --concurrency between 1 and 256");
            await using var server = await LoopbackLlmServer.StartAsync(wait, Model);
            string directory = Path.Combine(Path.GetTempPath(), "neuron-explainer-llm-bench-" + Guid.NewGuid().ToString("N"));
            try
            {
                console.MarkupLine($"loopback server {Markup.Escape(server.BaseUrl.ToString())}, answers after {wait.TotalMilliseconds:0} ms; {Environment.ProcessorCount} cores");
                var table = new Table().AddColumn("what").AddColumn("concurrency").AddColumn("calls").AddColumn("seconds").AddColumn("calls/s")
                    .AddColumn("c / delay").AddColumn("share").AddColumn("CPU ms/call").AddColumn("peak RSS MiB");
                foreach (int c in levels)
                {
                    if (rows != "explain")
                    {
                        status.WriteLine($"pipeline, concurrency {c} ...");
                        AddRow(table, "pipeline", c, wait, await PipelineAsync(server, Path.Combine(directory, $"pipeline-{c}"), c,
                            TimeSpan.FromSeconds(parse.GetValue(seconds)), cancellationToken));
                    }
                    if (rows == "pipeline") continue;
                    status.WriteLine($"explain+score, concurrency {c} ...");
                    AddRow(table, "explain+score", c, wait, await ExplainAndScoreAsync(server, Path.Combine(directory, $"explain-{c}"), c,
                        c * parse.GetValue(waves), cancellationToken));
                }
                console.Write(table);
                console.MarkupLine("[grey]pipeline: c callers each sending unique chat calls back to back through LlmPipeline (cache, ledger in a SQLite store); " +
                    "explain+score: a run over c x waves synthetic neurons, chat explainer and simulator, 1 + 20 + 20 calls per neuron.[/]");
            }
            finally
            {
                if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            }
            return 0;
        });
        return command;
    }

    sealed record Measured(long Calls, double Seconds, double CpuSeconds);

    static void AddRow(Table table, string what, int c, TimeSpan delay, Measured m)
    {
        double rate = m.Calls / m.Seconds, ideal = c / delay.TotalSeconds;
        table.AddRow(what, Int(c), Int(m.Calls), Number(m.Seconds, "0.00"), Number(rate, "0.0"), Number(ideal, "0.0"), Number(rate / ideal, "0.0%"),
            Number(1000 * m.CpuSeconds / Math.Max(1, m.Calls), "0.00"), Number(PeakRssMiB(), "0"));
    }

    /// <summary>c callers, each sending one unique chat call after another for <paramref name="duration"/> (after a second of warm-up).</summary>
    static async Task<Measured> PipelineAsync(LoopbackLlmServer server, string directory, int c, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var store = NeuronStores.Open(directory);
        var endpoint = new LlmEndpoint(server.BaseUrl);
        using var pipeline = await LlmPipeline.ConnectAsync(endpoint, [Model], new LlmPipelineOptions { Concurrency = c }, PriceTable.Default, store,
            cancellationToken);
        var messages = SimulatorPrompts.Chat("words about cats", [.. Enumerable.Range(0, 64).Select(i => $" w{i % 13}")]);
        long sent = 0, counted = 0;
        bool counting = false;
        var warmUp = TimeSpan.FromSeconds(1);
        var clock = Stopwatch.StartNew();
        var cpu = TimeSpan.Zero;
        double start = 0;
        var callers = Enumerable.Range(0, c).Select(async _ =>
        {
            while (clock.Elapsed < warmUp + duration)
            {
                // A unique request each time, so the cache never answers.
                var request = new ChatRequest(Model, [.. messages.SkipLast(1), ChatMessage.User(messages[^1].Content + $" #{Interlocked.Increment(ref sent)}")],
                    MaxTokens: 200, Temperature: 0, TopLogprobs: 10);
                await pipeline.ChatAsync(request, new LlmCallContext(null, "bench"), cancellationToken: cancellationToken);
                if (Volatile.Read(ref counting)) Interlocked.Increment(ref counted);
            }
        }).ToList();
        await Task.Delay(warmUp, cancellationToken);
        (start, cpu) = (clock.Elapsed.TotalSeconds, Process.GetCurrentProcess().TotalProcessorTime);
        Volatile.Write(ref counting, true);
        await Task.WhenAll(callers);
        return new Measured(counted, clock.Elapsed.TotalSeconds - start, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
    }

    /// <summary>A whole explain+score run over <paramref name="neurons"/> synthetic neurons at concurrency c, timed from the first call to the last.</summary>
    static async Task<Measured> ExplainAndScoreAsync(LoopbackLlmServer server, string directory, int c, int neurons, CancellationToken cancellationToken)
    {
        using var store = NeuronStores.Open(directory);
        store.PutNeuronRecords([.. Enumerable.Range(0, neurons).Select(n => Synthetic(new NeuronId(0, n)))]);
        var settings = new ExplanationSettings
        {
            Explainer = Model, Simulator = Model, SimulatorMethod = "chat", BaseUrl = server.BaseUrl.ToString(), Concurrency = c,
        };
        using var session = await ExplanationSession.OpenAsync(settings, store, cancellationToken);
        var selected = session.SelectNeurons(store, null, null);
        long before = server.Requests;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var counts = await session.RunAsync(store, store, selected, RunStep.ExplainAndScore, cancellationToken: cancellationToken);
        double seconds = clock.Elapsed.TotalSeconds;
        if (counts.Stored != neurons || store.ListScores().Count(s => s.Status == NeuronStatus.Done) != neurons)
            throw new NeuronExplainerException($"the bench run stored {counts.Stored} of {neurons} neurons as done; the loopback server's answers were not accepted");
        return new Measured(server.Requests - before, seconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
    }

    /// <summary>A neuron with 40 top and 40 random 64-token excerpts of made-up words, seeded by its index.</summary>
    internal static NeuronRecord Synthetic(NeuronId id)
    {
        var random = new Random(id.NeuronIndex + 1);
        ActivationRecord Excerpt(double scale)
        {
            string[] tokens = [.. Enumerable.Range(0, 64).Select(_ => $" w{random.Next(500)}")];
            return new ActivationRecord(tokens, [.. tokens.Select(_ => Math.Round(scale * random.NextDouble(), 3))]);
        }
        var top = Enumerable.Range(0, 40).Select(i => Excerpt(10 - i * 0.1)).ToList();
        var sample = Enumerable.Range(0, 40).Select(_ => Excerpt(1)).ToList();
        return new NeuronRecord(id, sample, null, null, null, null, null, null, top);
    }

    /// <summary>The process's peak resident set (VmHWM), or NaN where /proc does not say.</summary>
    static double PeakRssMiB()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return double.NaN;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);
    static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
