using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench</c>: forward-pass throughput and GEMM GFLOP/s of a GPT-2-small-shaped model with random weights
/// (and stories260K when available), per GEMM backend, thread count and weight dtype, next to the raw product at
/// the forward's shapes and the machine's roofline. Compare ratios, not absolute numbers, on a shared machine.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var batches = new Option<int[]>("--batch") { Description = "Windows per forward pass (repeatable)", DefaultValueFactory = _ => [8, 32], AllowMultipleArgumentsPerToken = true };
        var seq = new Option<int>("--seq") { Description = "Tokens per window", DefaultValueFactory = _ => 64 };
        var shape = new BenchScaleCommands.ShapeOptions();
        var iterations = new Option<int>("--iterations") { Description = "Timed forward passes per configuration (after at least 3 warm-up passes and 1 s)", DefaultValueFactory = _ => 5 };
        var backends = new Option<string>("--gemm") { Description = "Backends to measure: auto (OpenBLAS when it loads, and the managed kernel), openblas, managed", DefaultValueFactory = _ => "auto" };
        var dtypes = new Option<string[]>("--dtype") { Description = "Weight dtypes to measure side by side: float32, bf16 (repeatable)", DefaultValueFactory = _ => ["float32", "bf16"], AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int[]>("--threads") { Description = "GEMM threads to measure (repeatable; OpenBLAS's pool and the managed kernel's workers; attention and norms always use every core)", DefaultValueFactory = _ => [Environment.ProcessorCount], AllowMultipleArgumentsPerToken = true };
        var stories = new Option<string?>("--stories") { Description = "stories260K.bin to time as well (default: ../shared/models/stories260K/stories260K.bin when present)" };

        var command = new Command("bench", """
            Measure forward-pass tokens/s and GEMM GFLOP/s (GPT-2 shape, small by default, random weights; stories260K), with
            each GEMM backend, weight dtype and thread count, next to the raw product at the same shapes and the
            roofline from this machine's measured peak FLOP/s and memory bandwidth.

            Examples:
              neuron-explainer bench
              neuron-explainer bench --batch 8 --gemm managed --dtype bf16 --stories ../shared/models/stories260K/stories260K.bin
              neuron-explainer bench --threads 1 --threads 2   (run next to a CPU-bound process to see which setting holds up)
              neuron-explainer bench --layers 48 --d-model 1600 --heads 25 --batch 8 --dtype bf16   (GPT-2 XL's shape)
              neuron-explainer bench llm   (LLM pipeline calls/s against a loopback server; see bench llm --help)
            """)
        {
            batches, seq, iterations, backends, dtypes, threads, stories,
        };
        shape.AddTo(command);
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
            var threadCounts = parse.GetValue(threads)!.Distinct().ToArray();
            var types = parse.GetValue(dtypes)!.Select(t => WeightDTypeNames.Parse(t, "--dtype")).Distinct().ToArray();
            if (seqLen <= 0 || batchSizes.Any(b => b <= 0) || threadCounts.Any(t => t <= 0)) throw new NeuronExplainerException("--seq, --batch and --threads must be positive");
            var blas = parse.GetValue(backends) is "auto" or "openblas" ? OpenBlasGemm.TryCreate() : null;
            if (parse.GetValue(backends) == "openblas" && blas is null) GemmBackends.Select("openblas"); // throws the missing-library error
            if (parse.GetValue(backends) is not ("auto" or "openblas" or "managed")) GemmBackends.Select(parse.GetValue(backends));
            var measureManaged = parse.GetValue(backends) is "auto" or "managed";

            var config = shape.Config(parse);
            if (blas is not null) console.MarkupLine($"GEMM [bold]openblas[/]: {Markup.Escape(blas.Name)}");
            if (measureManaged) console.MarkupLine($"GEMM [bold]managed[/]: {Markup.Escape(new ManagedGemm().Name)}");
            console.MarkupLine($"default backend here: [bold]{Markup.Escape(GemmBackends.Default.Name)}[/]");
            console.MarkupLine($"AVX-512 BF16 (CPUID 7.1 EAX bit 5): {(BFloat16.CpuHasAvx512Bf16 ? "present (no bf16-instruction path is implemented; bf16 runs widened)" : "absent: bf16 weights are widened to float32 inside the product")}");
            console.MarkupLine($"[bold]GPT-2-shaped forward[/]: {config.LayerCount} layers, d_model {config.ModelDim}, d_mlp {config.MlpDim}, {config.HeadCount} heads, {seqLen}-token windows, no unembedding; {Environment.ProcessorCount} cores");

            status.WriteLine("measuring peak FLOP/s and memory bandwidth ...");
            var peaks = MachinePeaks.Measure(Environment.ProcessorCount);
            console.MarkupLine($"peak: {peaks.Gflops:0.0} GFLOP/s ({Markup.Escape(peaks.FlopsMethod)}); memory bandwidth {peaks.GigabytesPerSecond:0.0} GB/s ({Markup.Escape(peaks.BandwidthMethod)})");
            var flopsPerToken = 2.0 * config.LayerCount * config.ModelDim * (config.QkvDim + config.QueryDim + 2 * config.MlpDim);
            console.MarkupLine($"projection FLOPs per token: {flopsPerToken / 1e6:0.0} M");

            var weightsByType = new Dictionary<WeightDType, TransformerWeights>();
            foreach (var dtype in types)
            {
                status.WriteLine($"creating random {dtype.Name()} weights ...");
                weightsByType[dtype] = TransformerWeights.Random(config, seed: 1, dtype);
                console.MarkupLine($"weights in {dtype.Name()}: {weightsByType[dtype].Bytes / 1e6:0.0} MB");
            }
            long ProjectionBytes(WeightDType dtype) => (dtype == WeightDType.BFloat16 ? 2L : 4L) * config.LayerCount * config.ModelDim * (config.QkvDim + config.QueryDim + 2 * config.MlpDim);

            // Raw products are measured right before the forward pass they are compared with: on a shared machine the
            // available CPU changes from minute to minute, so measurements far apart in time do not compare.
            var raw = new Table().Title("raw products at the forward's shapes (x · Wᵀ, GFLOP/s over 0.3 s of calls; bf16: W in bf16)").AddColumn("shape (m x n x k)");
            var forward = new Table().Title("forward pass (tokens/s: median of runs; GEMM GFLOP/s measured inside the forward)")
                .AddColumn("GEMM").AddColumn("threads").AddColumn("dtype").AddColumn("batch").AddColumn("tokens/s").AddColumn("best").AddColumn("tokens/CPU-s")
                .AddColumn("raw GFLOP/s").AddColumn("in-forward GFLOP/s").AddColumn("in-forward vs raw").AddColumn("GEMM share of time")
                .AddColumn("roofline tokens/s").AddColumn("share of roofline");
            var random = new Random(7);
            var rawRows = new List<(string Shape, List<string> Rates)>();
            var columnsAdded = false;
            foreach (var batch in batchSizes)
            {
                var m = batch * seqLen;
                var shapes = new[] { (config.QkvDim, config.ModelDim), (config.ModelDim, config.QueryDim), (config.MlpDim, config.ModelDim), (config.ModelDim, config.MlpDim) };
                var flops = shapes.Select(s => 2.0 * m * s.Item1 * s.Item2).ToArray();
                var rows = shapes.Select(s => ($"{m} x {s.Item1} x {s.Item2}", new List<string>())).Append(($"[bold]layer mix, batch {batch}[/]", new List<string>())).ToList();
                foreach (var threadCount in threadCounts)
                foreach (var (label, gemm) in Backends(blas, measureManaged, threadCount))
                foreach (var dtype in types)
                {
                    if (!columnsAdded) raw.AddColumn($"{label} {threadCount}t {dtype.Name()}");
                    status.WriteLine($"timing {label}, {threadCount} threads, {dtype.Name()}, batch {batch} ...");
                    var rates = shapes.Select(s => RawProduct(gemm, dtype, m, s.Item1, s.Item2)).ToArray();
                    // One layer's mix: total FLOPs over total time.
                    var rawMix = flops.Sum() / flops.Select((f, i) => f / rates[i]).Sum();
                    for (var i = 0; i < rates.Length; i++) rows[i].Item2.Add(rates[i].ToString("0.0", CultureInfo.InvariantCulture));
                    rows[^1].Item2.Add($"[bold]{rawMix:0.0}[/]");
                    // Roofline: the slower of compute (peak FLOP/s) and reading every projection weight once per pass.
                    var roofline = Math.Min(peaks.Gflops * 1e9 / flopsPerToken, peaks.GigabytesPerSecond * 1e9 * m / ProjectionBytes(dtype));

                    var timing = new TimingGemm(gemm);
                    using var model = new Transformer("gpt2-shaped", weightsByType[dtype], new NoTokenizer(config.VocabSize), timing);
                    var tokens = Enumerable.Range(0, m).Select(_ => random.Next(config.VocabSize)).ToArray();
                    var request = new ForwardRequest([ForwardRequest.ResidPost(config.LayerCount - 1)]);
                    var (median, best, total, cpu) = TimeRuns(runs, () => model.Forward(tokens, batch, seqLen, request), timing.Reset);
                    var tokensPerSecond = m / median;
                    var gemmRate = timing.Flops / timing.Seconds / 1e9;
                    forward.AddRow(label, $"{threadCount}", dtype.Name(), $"{batch}", $"{tokensPerSecond:0}", $"{m / best:0}", $"{m / cpu:0}", $"{rawMix:0.0}", $"{gemmRate:0.0}",
                        $"{gemmRate / rawMix:P0}", $"{timing.Seconds / total:P0}", $"{roofline:0}", $"{tokensPerSecond / roofline:P0}");
                }
                columnsAdded = true;
                rawRows.AddRange(rows);
            }
            blas?.TrySetThreads(Environment.ProcessorCount);
            foreach (var (shape, rates) in rawRows) raw.AddRow([shape, .. rates]);
            console.Write(raw);
            console.Write(forward);
            console.MarkupLine("[grey]in-forward vs raw: GEMM rate inside the forward / raw layer-mix rate at the same setting (a collapse under load shows here); GEMM share of time: time inside projection GEMMs / forward time; roofline: min(peak FLOP/s / projection FLOPs per token, bandwidth x tokens per pass / projection weight bytes).[/]");

            var storiesPath = parse.GetValue(stories) ?? FindSharedStories();
            if (storiesPath is not null) BenchStories(console, status, storiesPath, [.. Backends(blas, measureManaged, Environment.ProcessorCount)], types, runs);
            else console.MarkupLine("[grey]stories260K: not found (pass --stories PATH)[/]");
            return 0;
        });
        return command;
    }

    /// <summary>The backends measured, at a GEMM thread count (OpenBLAS's is process-wide, so it is set here for what follows).</summary>
    private static IEnumerable<(string Label, IGemm Gemm)> Backends(OpenBlasGemm? blas, bool managed, int threads)
    {
        if (blas is not null && blas.TrySetThreads(threads)) yield return ("openblas", blas);
        if (managed) yield return ("managed", new ManagedGemm(threads));
    }

    private static void BenchStories(IAnsiConsole console, TextWriter status, string path, (string Label, IGemm Gemm)[] gemms, WeightDType[] types, int runs)
    {
        var table = new Table().Title($"stories260K ({Markup.Escape(path)}): 32 windows of 64 tokens").AddColumn("GEMM").AddColumn("dtype").AddColumn("hooks").AddColumn("tokens/s").AddColumn("best").AddColumn("tokens/CPU-s");
        const int batch = 32, seqLen = 64;
        foreach (var dtype in types)
        {
            var weights = ModelLoader.LoadWeights(path, dtype);
            var random = new Random(3);
            var tokens = Enumerable.Range(0, batch * seqLen).Select(i => i % seqLen == 0 ? 1 : random.Next(3, weights.Config.VocabSize)).ToArray();
            foreach (var (label, gemm) in gemms)
            {
                using var model = new Transformer("stories260K", weights, new NoTokenizer(weights.Config.VocabSize), gemm);
                var allMlp = new ForwardRequest(Enumerable.Range(0, weights.Config.LayerCount).Select(ForwardRequest.MlpPost).ToList());
                var lastResid = new ForwardRequest([ForwardRequest.ResidPost(weights.Config.LayerCount - 1)]);
                foreach (var (hooks, request) in new[] { ("last resid_post (bare pass)", lastResid), ("mlp.hook_post, all layers", allMlp) })
                {
                    status.WriteLine($"timing stories260K, {label}, {dtype.Name()}, {hooks} ...");
                    var (median, best, _, cpu) = TimeRuns(runs * 10, () => model.Forward(tokens, batch, seqLen, request), () => { });
                    table.AddRow(label, dtype.Name(), hooks, $"{batch * seqLen / median:0}", $"{batch * seqLen / best:0}", $"{batch * seqLen / cpu:0}");
                }
            }
        }
        console.Write(table);
    }

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
    /// GFLOP/s of x[m, k] · W[n, k]ᵀ (W in <paramref name="dtype"/>) over repeated calls for about 0.3 s after a
    /// warm-up call: total FLOPs over total time, the same statistic as the in-forward rate it is compared with.
    /// </summary>
    private static double RawProduct(IGemm gemm, WeightDType dtype, int m, int n, int k)
    {
        var random = new Random(5);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var b = WeightMatrix.Of(Enumerable.Range(0, n * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), dtype);
        var c = new float[m * n];
        b.MultiplyTransposed(gemm, a, m, k, c, n, false);
        var calls = 0;
        var clock = Stopwatch.StartNew();
        for (; calls < 3 || clock.Elapsed.TotalSeconds < 0.3; calls++)
            b.MultiplyTransposed(gemm, a, m, k, c, n, false);
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
            Count(start, m, n, k);
        }

        public void MultiplyBf16(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, int ldb, Span<float> c, int ldc, bool accumulate)
        {
            var start = Stopwatch.GetTimestamp();
            inner.MultiplyBf16(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            Count(start, m, n, k);
        }

        private void Count(long start, int m, int n, int k)
        {
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
