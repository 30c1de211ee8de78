using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench fleet</c>: LLM calls per second of N worker processes (this executable's <c>explain</c>) sharing one store,
/// against an in-process loopback server that answers every call after a fixed delay. Each row gets a fresh store of
/// synthetic neurons (a schema of its own on PostgreSQL); the rate is counted from the server's first request to the
/// last worker's exit, so process start-up is left out.
/// </summary>
internal static class FleetBenchCommand
{
    const string Model = "bench-chat";

    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "postgresql:// URL of the database (each row uses a schema of its own, dropped after it)", Required = true };
        var workers = new Option<int[]>("--workers") { Description = "Worker processes (repeatable)", DefaultValueFactory = _ => [1, 2, 4], AllowMultipleArgumentsPerToken = true };
        var concurrency = new Option<int>("--concurrency") { Description = "--concurrency of each worker", DefaultValueFactory = _ => 4 };
        var neurons = new Option<int>("--neurons") { Description = "Synthetic neurons per row (40 top and 40 random 64-token excerpts each, as bench llm makes them)", DefaultValueFactory = _ => 64 };
        var delay = new Option<int>("--delay") { Description = "Milliseconds the server waits before each answer", DefaultValueFactory = _ => 200 };
        var command = new Command("fleet", """
            Measure LLM calls/s of N explain worker processes sharing one store against an in-process loopback server that
            answers after --delay ms. With W workers at concurrency c, W x c / delay calls per second is the most they can get.

            Example:
              neuron-explainer bench fleet --store postgresql://postgres@127.0.0.1:5432/postgres --workers 1 2 4 --delay 200
            """)
        {
            store, workers, concurrency, neurons, delay,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string url = parse.GetValue(store)!;
            if (!url.StartsWith("postgresql://", StringComparison.Ordinal) || url.Contains('?', StringComparison.Ordinal))
                throw new NeuronExplainerException("--store: expected a postgresql:// URL without ?schema (each row makes a schema of its own)");
            var wait = TimeSpan.FromMilliseconds(parse.GetValue(delay));
            int c = parse.GetValue(concurrency), count = parse.GetValue(neurons);
            var levels = parse.GetValue(workers)!;
            if (wait <= TimeSpan.Zero || c < 1 || count < 1 || levels.Any(w => w is < 1 or > 64))
                throw new NeuronExplainerException("--delay, --concurrency and --neurons must be positive and --workers between 1 and 64");
            var console = TableConsole.For(parse.InvocationConfiguration.Output);
            await using var server = await LoopbackLlmServer.StartAsync(wait, Model);
            console.MarkupLine($"loopback server {Markup.Escape(server.BaseUrl.ToString())}, answers after {wait.TotalMilliseconds:0} ms; {Environment.ProcessorCount} cores");
            var table = new Table().AddColumn("workers").AddColumn("concurrency each").AddColumn("neurons").AddColumn("calls").AddColumn("seconds")
                .AddColumn("calls/s").AddColumn("W x c / delay").AddColumn("share");
            foreach (int w in levels)
            {
                string location = $"{url}?schema=bench_fleet_{Guid.NewGuid():N}";
                try
                {
                    using (var fresh = NeuronStores.Open(location))
                        fresh.PutNeuronRecords([.. Enumerable.Range(0, count).Select(n => LlmBenchCommand.Synthetic(new NeuronId(0, n)))]);
                    parse.InvocationConfiguration.Error.WriteLine($"{w} worker(s) ...");
                    var (calls, seconds) = await RunWorkersAsync(server, location, w, c, cancellationToken);
                    double rate = calls / seconds, ideal = w * c / wait.TotalSeconds;
                    table.AddRow(Int(w), Int(c), Int(count), Int(calls), Number(seconds, "0.00"), Number(rate, "0.0"), Number(ideal, "0.0"), Number(rate / ideal, "0.0%"));
                }
                finally
                {
                    NeuronStores.Discard(location);
                }
            }
            console.Write(table);
            console.MarkupLine("[grey]each worker: explain --explainer bench-chat --simulator bench-chat over synthetic 64-token neurons; calls counted by the server from its first request to the last worker's exit.[/]");
            return 0;
        });
        return command;
    }

    static async Task<(long Calls, double Seconds)> RunWorkersAsync(LoopbackLlmServer server, string location, int workers, int concurrency, CancellationToken cancellationToken)
    {
        long before = server.Requests;
        // This executable again: the apphost, or `dotnet exec neuron-explainer.dll` when run that way.
        string self = Environment.GetCommandLineArgs()[0];
        var processes = Enumerable.Range(0, workers).Select(_ =>
        {
            string[] args = ["explain", "--store", location, "--explainer", Model, "--simulator", Model, "--simulator-method", "chat",
                "--base-url", server.BaseUrl.ToString(), "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture)];
            var start = self.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
                ? new ProcessStartInfo("dotnet", ["exec", self, .. args]) : new ProcessStartInfo(self, args);
            start.RedirectStandardOutput = start.RedirectStandardError = true;
            var process = Process.Start(start)!;
            var drained = Task.WhenAll(process.StandardOutput.ReadToEndAsync(cancellationToken), process.StandardError.ReadToEndAsync(cancellationToken));
            return (Process: process, Output: drained);
        }).ToList();
        while (server.Requests == before && processes.Any(p => !p.Process.HasExited)) await Task.Delay(5, cancellationToken);
        var clock = Stopwatch.StartNew();
        foreach (var (process, output) in processes)
        {
            await process.WaitForExitAsync(cancellationToken);
            var text = await output;
            if (process.ExitCode != 0) throw new NeuronExplainerException($"a bench worker exited with {process.ExitCode}: {text[1].Trim()}");
            process.Dispose();
        }
        return (server.Requests - before, clock.Elapsed.TotalSeconds);
    }

    static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);
    static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
