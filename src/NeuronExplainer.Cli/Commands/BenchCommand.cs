using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench</c>: forward-pass throughput and GEMM GFLOP/s of a GPT-2-small-shaped model with random weights
/// (and stories260K when available), for the selected GEMM backend and the managed fallback, next to raw
/// sgemm at the forward's shapes. Compare ratios, not absolute numbers, on a shared machine.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var batches = new Option<int[]>("--batch") { Description = "Windows per forward pass (repeatable)", DefaultValueFactory = _ => [8, 32], AllowMultipleArgumentsPerToken = true };
        var seq = new Option<int>("--seq") { Description = "Tokens per window", DefaultValueFactory = _ => 64 };
        var layers = new Option<int>("--layers") { Description = "Layers of the GPT-2-small-shaped model", DefaultValueFactory = _ => 12 };
        var iterations = new Option<int>("--iterations") { Description = "Timed forward passes per configuration (after at least 3 warm-up passes and 1 s)", DefaultValueFactory = _ => 5 };
        var backends = new Option<string>("--gemm") { Description = "Backends to measure: auto (OpenBLAS when it loads, and the managed kernel), openblas, managed", DefaultValueFactory = _ => "auto" };
        var stories = new Option<string?>("--stories") { Description = "stories260K.bin to time as well (default: ../shared/models/stories260K/stories260K.bin when present)" };

        var command = new Command("bench", """
            Measure forward-pass tokens/s and GEMM GFLOP/s (GPT-2-small shape, random weights; stories260K), with
            each GEMM backend next to raw sgemm at the same shapes.

            Examples:
              neuron-explainer bench
              neuron-explainer bench --batch 8 --gemm managed --stories ../shared/models/stories260K/stories260K.bin
              neuron-explainer bench llm   (LLM pipeline calls/s against a loopback server; see bench llm --help)
            """)
        {
            batches, seq, layers, iterations, backends, stories,
        };
        command.Subcommands.Add(BenchScaleCommands.WeightViewsCommand());
        command.Subcommands.Add(BenchScaleCommands.Gpt2ModelCommand());
        command.Subcommands.Add(BenchScaleCommands.CollectBenchCommand());
        command.Subcommands.Add(BenchScaleCommands.RandomSaeCommand());
        command.Subcommands.Add(LlmBenchCommand.Create());
        command.Subcommands.Add(FleetBenchCommand.Create());
        command.Subcommands.Add(StoreBenchCommand.Create());
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var console = TableConsole.For(output);
            var status = parse.InvocationConfiguration.Error;
            var runs = Math.Max(1, parse.GetValue(iterations));
            var seqLen = parse.GetValue(seq);
            var batchSizes = parse.GetValue(batches)!;
            if (seqLen <= 0 || batchSizes.Any(b => b <= 0)) throw new NeuronExplainerException("--seq and --batch must be positive");
            // auto: both backends when OpenBLAS loads (it first: the roofline is its raw rate), else the managed one.
            var gemms = parse.GetValue(backends) switch
            {
                "auto" => OpenBlasGemm.TryCreate() is { } blas ? new IGemm[] { blas, new ManagedGemm() } : [new ManagedGemm()],
                var one => [GemmBackends.Select(one)],
            };

            var config = new TransformerConfig("GPT2LMHeadModel (random)", parse.GetValue(layers), 768, 3072, 12, 12, 64, 50257, 1024,
                NormKind.LayerNorm, 1e-5f, MlpActivation.GeluNew, GatedMlp: false, LearnedPositions: true, RopeTheta: 0, PrependsBos: false);
            config.Validate("--layers");
            foreach (var gemm in gemms) console.MarkupLine($"GEMM [bold]{Label(gemm)}[/]: {Markup.Escape(gemm.Name)}");
            console.MarkupLine($"default backend here: [bold]{Markup.Escape(GemmBackends.Default.Name)}[/]");
            console.MarkupLine($"[bold]GPT-2-small-shaped forward[/]: {config.LayerCount} layers, d_model {config.ModelDim}, d_mlp {config.MlpDim}, {config.HeadCount} heads, {seqLen}-token windows, no unembedding; {Environment.ProcessorCount} cores");
            status.WriteLine("creating random weights ...");
            var weights = TransformerWeights.Random(config, seed: 1);
            var flopsPerToken = 2.0 * config.LayerCount * config.ModelDim * (config.QkvDim + config.QueryDim + 2 * config.MlpDim);
            console.MarkupLine($"projection FLOPs per token: {flopsPerToken / 1e6:0.0} M");

            // Raw sgemm is measured right before the forward pass it is compared with: on a shared machine the
            // available CPU changes from minute to minute, so measurements far apart in time do not compare.
            var raw = new Table().Title("raw sgemm at the forward's shapes (x · Wᵀ, GFLOP/s over 0.3 s of calls)").AddColumn("shape (m x n x k)");
            foreach (var gemm in gemms) raw.AddColumn(Label(gemm));
            var forward = new Table().Title("forward pass (tokens/s: median of runs; GEMM GFLOP/s measured inside the forward)")
                .AddColumn("GEMM").AddColumn("batch").AddColumn("tokens/s").AddColumn("best").AddColumn("tokens/CPU-s").AddColumn("GEMM GFLOP/s").AddColumn("GEMM vs raw")
                .AddColumn("GEMM share of time").AddColumn("roofline tokens/s").AddColumn("share of roofline");
            var random = new Random(7);
            foreach (var batch in batchSizes)
            {
                var m = batch * seqLen;
                var shapes = new[] { (config.QkvDim, config.ModelDim), (config.ModelDim, config.QueryDim), (config.MlpDim, config.ModelDim), (config.ModelDim, config.MlpDim) };
                var flops = shapes.Select(s => 2.0 * m * s.Item1 * s.Item2).ToArray();
                var rawRates = new double[gemms.Length][];
                double? roofline = null;
                for (var g = 0; g < gemms.Length; g++)
                {
                    var gemm = gemms[g];
                    status.WriteLine($"timing {Label(gemm)}, batch {batch} ...");
                    rawRates[g] = shapes.Select(s => RawSgemm(gemm, m, s.Item1, s.Item2)).ToArray();
                    // One layer's mix: total FLOPs over total time.
                    var rawMix = flops.Sum() / flops.Select((f, i) => f / rawRates[g][i]).Sum();
                    roofline ??= rawMix * 1e9 / flopsPerToken;

                    var timing = new TimingGemm(gemm);
                    using var model = new Transformer("gpt2-small-shaped", weights, new NoTokenizer(config.VocabSize), timing);
                    var tokens = Enumerable.Range(0, m).Select(_ => random.Next(config.VocabSize)).ToArray();
                    var request = new ForwardRequest([ForwardRequest.ResidPost(config.LayerCount - 1)]);
                    var (median, best, total, cpu) = TimeRuns(runs, () => model.Forward(tokens, batch, seqLen, request), timing.Reset);
                    var tokensPerSecond = m / median;
                    var gemmRate = timing.Flops / timing.Seconds / 1e9;
                    forward.AddRow(Label(gemm), $"{batch}", $"{tokensPerSecond:0}", $"{m / best:0}", $"{m / cpu:0}", $"{gemmRate:0.0}",
                        $"{gemmRate / rawMix:P0}", $"{timing.Seconds / total:P0}", $"{roofline:0}", $"{tokensPerSecond / roofline:P0}");
                    rawRates[g] = [.. rawRates[g], rawMix];
                }
                for (var i = 0; i < shapes.Length; i++)
                    raw.AddRow([$"{m} x {shapes[i].Item1} x {shapes[i].Item2}", .. rawRates.Select(r => r[i].ToString("0.0", CultureInfo.InvariantCulture))]);
                raw.AddRow([$"[bold]layer mix, batch {batch}[/]", .. rawRates.Select(r => $"[bold]{r[^1]:0.0}[/]")]);
            }
            console.Write(raw);
            console.Write(forward);
            console.MarkupLine("[grey]GEMM share of time: time inside projection GEMMs / forward time; roofline: raw sgemm layer-mix rate of the first backend / projection FLOPs per token.[/]");

            var storiesPath = parse.GetValue(stories) ?? FindSharedStories();
            if (storiesPath is not null) BenchStories(console, status, storiesPath, gemms, runs);
            else console.MarkupLine("[grey]stories260K: not found (pass --stories PATH)[/]");
            return 0;
        });
        return command;
    }

    private static void BenchStories(IAnsiConsole console, TextWriter status, string path, IGemm[] gemms, int runs)
    {
        var weights = ModelLoader.LoadWeights(path);
        var table = new Table().Title($"stories260K ({Markup.Escape(path)}): 32 windows of 64 tokens").AddColumn("GEMM").AddColumn("hooks").AddColumn("tokens/s").AddColumn("best").AddColumn("tokens/CPU-s");
        var random = new Random(3);
        const int batch = 32, seqLen = 64;
        var tokens = Enumerable.Range(0, batch * seqLen).Select(i => i % seqLen == 0 ? 1 : random.Next(3, weights.Config.VocabSize)).ToArray();
        foreach (var gemm in gemms)
        {
            using var model = new Transformer("stories260K", weights, new NoTokenizer(weights.Config.VocabSize), gemm);
            var allMlp = new ForwardRequest(Enumerable.Range(0, weights.Config.LayerCount).Select(ForwardRequest.MlpPost).ToList());
            var lastResid = new ForwardRequest([ForwardRequest.ResidPost(weights.Config.LayerCount - 1)]);
            foreach (var (label, request) in new[] { ("last resid_post (bare pass)", lastResid), ("mlp.hook_post, all layers", allMlp) })
            {
                status.WriteLine($"timing stories260K, {Label(gemm)}, {label} ...");
                var (median, best, _, cpu) = TimeRuns(runs * 10, () => model.Forward(tokens, batch, seqLen, request), () => { });
                table.AddRow(Label(gemm), label, $"{batch * seqLen / median:0}", $"{batch * seqLen / best:0}", $"{batch * seqLen / cpu:0}");
            }
        }
        console.Write(table);
    }

    private static string Label(IGemm gemm) => gemm is ManagedGemm ? "managed" : "openblas";

    /// <summary>
    /// Median and best seconds of <paramref name="runs"/> timed calls, after warm-up calls (at least three and
    /// a second) so the JIT's tiered recompilation has finished before timing starts.
    /// </summary>
    /// The process's CPU time per run is returned too: on a shared, oversubscribed machine wall time mostly
    /// measures the scheduler, while tokens per CPU-second still compares implementations.
    private static (double Median, double Best, double Total, double CpuSeconds) TimeRuns(int runs, Action action, Action afterWarmUp)
    {
        var warmUp = Stopwatch.StartNew();
        for (var i = 0; i < 3 || warmUp.Elapsed.TotalSeconds < 1; i++) action();
        afterWarmUp();
        var seconds = new double[runs];
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds / runs;
        Array.Sort(seconds);
        return (seconds[runs / 2], seconds[0], seconds.Sum(), cpu);
    }

    /// <summary>
    /// GFLOP/s of x[m, k] · W[n, k]ᵀ over repeated calls for about 0.3 s after a warm-up call: total FLOPs over
    /// total time, the same statistic as the in-forward rate it is compared with.
    /// </summary>
    private static double RawSgemm(IGemm gemm, int m, int n, int k)
    {
        var random = new Random(5);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var b = Enumerable.Range(0, n * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var c = new float[m * n];
        gemm.Multiply(false, true, m, n, k, a, k, b, k, c, n, false);
        var calls = 0;
        var clock = Stopwatch.StartNew();
        for (; calls < 3 || clock.Elapsed.TotalSeconds < 0.3; calls++)
            gemm.Multiply(false, true, m, n, k, a, k, b, k, c, n, false);
        return 2.0 * m * n * k * calls / clock.Elapsed.TotalSeconds / 1e9;
    }

    private static string? FindSharedStories()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "models", "stories260K", "stories260K.bin");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Counts FLOPs and wall time of the products that pass through it (the forward's projections).</summary>
    private sealed class TimingGemm(IGemm inner) : IGemm
    {
        private long _ticks;

        public string Name => inner.Name;

        public double Flops { get; private set; }

        public double Seconds => (double)_ticks / Stopwatch.Frequency;

        public void Reset()
        {
            _ticks = 0;
            Flops = 0;
        }

        public void Multiply(bool transposeA, bool transposeB, int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate)
        {
            var start = Stopwatch.GetTimestamp();
            inner.Multiply(transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            _ticks += Stopwatch.GetTimestamp() - start;
            Flops += 2.0 * m * n * k;
        }
    }

    /// <summary>The benchmark feeds token ids directly; nothing is encoded or decoded.</summary>
    internal sealed class NoTokenizer(int vocabSize) : ITokenizer
    {
        public int VocabSize => vocabSize;
        public int? BosId => null;
        public int? EosId => null;
        public int[] Encode(string text) => throw new NotSupportedException("the benchmark model has no tokenizer");
        public string Decode(ReadOnlySpan<int> ids) => throw new NotSupportedException("the benchmark model has no tokenizer");
        public string TokenString(int id) => throw new NotSupportedException("the benchmark model has no tokenizer");
    }
}
