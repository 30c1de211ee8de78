using System.CommandLine;
using System.Diagnostics;
using System.Net;
using NeuronExplainer.Activations;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench store</c>: builds a synthetic store of paper scale (GPT-2 XL: 48 layers x 6,400 neurons) with records and
/// results of the sizes default settings give, then times what a user waits for there: the viewer's API over loopback
/// HTTP, the baseline pair's explain+score of one layer, reading and writing results, and export.
/// </summary>
public static class StoreBenchCommand
{
    public static Command Create()
    {
        var layers = new Option<int>("--layers") { Description = "Layers of the synthetic store", DefaultValueFactory = _ => 48 };
        var perLayer = new Option<int>("--neurons-per-layer") { Description = "Neurons per layer", DefaultValueFactory = _ => 6400 };
        var explainLayer = new Option<int>("--explain-layer") { Description = "Layer left unexplained in the build, then explained and scored with the baseline pair", DefaultValueFactory = _ => 0 };
        var storeDir = new Option<string?>("--store") { Description = "Run directory to build into (default: a new temporary one); an existing bench store there of the same shape is reused" };
        var keep = new Option<bool>("--keep") { Description = "Keep the built store (a temporary one is removed at the end otherwise)" };
        var requests = new Option<int>("--requests") { Description = "Timed requests per viewer route (after 3 untimed)", DefaultValueFactory = _ => 30 };
        var compare = new Option<string?>("--compare-store")
        {
            Description = "A collected, not yet explained run directory (e.g. stories260K); a copy of it is explained and scored the same way, for a figure on a real store beside the synthetic one",
        };
        var command = new Command("store", """
            Build a synthetic store of paper scale (default 48 x 6,400 = 307,200 neurons; records of 40 top, 40 random
            and 5 x 10 quantile excerpts of 64 tokens, one baseline result per neuron) and time: the viewer's routes
            (medians over loopback HTTP), explain+score of one layer with the baseline pair, store reads and writes,
            export of that layer, and peak memory. Needs about 80 KB of disk per neuron: the store and a working copy the
            measurements run on, so a kept store can be measured again.

            Examples:
              neuron-explainer bench store
              neuron-explainer bench store --layers 4 --neurons-per-layer 1000 --requests 10
              neuron-explainer bench store --store /tmp/bench-xl --keep --compare-store runs/stories260K-collected
            """)
        {
            layers, perLayer, explainLayer, storeDir, keep, requests, compare,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var shape = new SyntheticStore.Shape(parse.GetValue(layers), parse.GetValue(perLayer), parse.GetValue(explainLayer));
            if (shape.Layers < 1 || shape.NeuronsPerLayer < 2 || shape.ExplainLayer < 0 || shape.ExplainLayer >= shape.Layers)
                throw new NeuronExplainerException("--layers must be at least 1, --neurons-per-layer at least 2, and --explain-layer one of the layers");
            string? given = parse.GetValue(storeDir);
            string dir = given ?? Path.Combine(Path.GetTempPath(), $"neuron-explainer-store-bench-{Environment.ProcessId}");
            bool remove = given is null && !parse.GetValue(keep);
            try
            {
                await Run(output, shape, dir, Math.Max(1, parse.GetValue(requests)), parse.GetValue(compare), cancel);
            }
            finally
            {
                if (remove && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
            return 0;
        });
        return command;
    }

    static async Task Run(TextWriter output, SyntheticStore.Shape shape, string dir, int requests, string? compare, CancellationToken cancel)
    {
        output.WriteLine($"synthetic store: {shape.Layers} layers x {shape.NeuronsPerLayer:N0} neurons = {shape.Neurons:N0}; {Environment.ProcessorCount} cores; load average {LoadAverage()}");
        var clock = Stopwatch.StartNew();
        using (var store = NeuronStores.Open(dir))
        {
            if (SyntheticStore.IsBuilt(store, shape)) output.WriteLine($"reusing the store in {dir}");
            else
            {
                var cpu = Cpu();
                SyntheticStore.Build(store, shape, (layer, count) => Console.Error.WriteLine($"  built layer {layer + 1}/{shape.Layers} ({count:N0} neurons, {clock.Elapsed.TotalSeconds:0} s)"));
                output.WriteLine($"built in {clock.Elapsed.TotalSeconds:0.0} s ({shape.Neurons / clock.Elapsed.TotalSeconds:N0} neurons/s), {Cpu() - cpu:0.0} CPU-s");
            }
        }
        long bytes = new DirectoryInfo(dir).EnumerateFiles().Sum(f => f.Length);
        output.WriteLine($"store: {bytes / 1e9:0.00} GB, {bytes / 1e3 / shape.Neurons:0.0} KB per neuron with its result; peak RSS so far {PeakRss()}");

        if (compare is not null) await CompareRun(output, compare, cancel);

        // The rest runs on a copy, so a kept store keeps its explain layer unexplained and a rerun measures explain+score again.
        string work = dir.TrimEnd('/') + "-work";
        Directory.CreateDirectory(work);
        try
        {
            foreach (var file in new DirectoryInfo(dir).EnumerateFiles()) file.CopyTo(Path.Combine(work, file.Name), overwrite: true);
            await Measure(output, shape, work, requests, cancel);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    static async Task Measure(TextWriter output, SyntheticStore.Shape shape, string dir, int requests, CancellationToken cancel)
    {
        var clock = new Stopwatch();

        using (var store = NeuronStores.OpenExisting(dir))
        {
            var neurons = store.ListNeurons(shape.ExplainLayer);
            clock.Restart();
            double cpu = Cpu();
            foreach (var id in neurons) store.GetNeuronRecord(id);
            var (read, readCpu) = (clock.Elapsed.TotalSeconds, Cpu() - cpu);
            cpu = Cpu();
            var collections = Collections();
            long allocated = GC.GetTotalAllocatedBytes();
            double explain = await ExplainAndScore(store, neurons, cancel);
            double explainCpu = Cpu() - cpu;
            // Allocation and collection counts do not depend on the machine's load, as time does: they compare builds.
            output.WriteLine($"explain+score (baseline pair) of layer {shape.ExplainLayer}: {neurons.Count:N0} neurons in {explain:0.00} s = {neurons.Count / explain:N0} neurons/s " +
                $"({explainCpu:0.00} CPU-s, {explainCpu / neurons.Count * 1e3:0.00} ms CPU a neuron; {(GC.GetTotalAllocatedBytes() - allocated) / 1e3 / neurons.Count:N0} KB allocated a neuron, " +
                $"gen0/1/2 collections {string.Join('/', Collections().Zip(collections, (after, before) => after - before))}); load average {LoadAverage()}");
            var results = neurons.Select(id => store.GetExplanationResult(id, BaselineExplainer.BaselineName, BaselineExplainer.BaselineName)!).ToList();
            clock.Restart();
            cpu = Cpu();
            store.Batch(() => { foreach (var result in results) store.PutExplanationResult(result); });
            var (write, writeCpu) = (clock.Elapsed.TotalSeconds, Cpu() - cpu);
            output.WriteLine($"  measured alone: reading the {neurons.Count:N0} records {read:0.00} s, {readCpu / neurons.Count * 1e3:0.00} ms CPU each; " +
                $"writing their results again {write:0.00} s, {writeCpu / neurons.Count * 1e3:0.00} ms CPU each; the rest is explaining, simulating and scoring");
        }

        using (var store = NeuronStores.OpenExisting(dir, StoreAccess.ReadOnly))
            await Viewer(output, store, shape, requests, cancel);

        using (var store = NeuronStores.OpenExisting(dir, StoreAccess.ReadOnly))
        {
            string target = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dir))!, Path.GetFileName(dir) + "-export");
            long rssBefore = PeakRssKb();
            clock.Restart();
            var summary = OpenAiDataset.Export(store, target, new ExportOptions(Layers: new HashSet<int> { shape.ExplainLayer }));
            double seconds = clock.Elapsed.TotalSeconds;
            long exported = new DirectoryInfo(target).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
            Directory.Delete(target, recursive: true);
            output.WriteLine($"export of layer {shape.ExplainLayer}: {summary.Neurons:N0} neurons, {exported / 1e9:0.00} GB of JSON in {seconds:0.0} s = {summary.Neurons / seconds:N0} neurons/s " +
                $"(all {shape.Neurons:N0} would take {shape.Neurons / (summary.Neurons / seconds) / 60:0} min); peak RSS {rssBefore / 1024:N0} MB before, {PeakRssKb() / 1024:N0} MB after");
        }
        output.WriteLine($"peak RSS {PeakRss()}; load average {LoadAverage()}");
    }

    static async Task<double> ExplainAndScore(INeuronStore store, IReadOnlyList<NeuronId> neurons, CancellationToken cancel)
    {
        using var session = await ExplanationSession.OpenAsync(new ExplanationSettings(), store, cancel);
        var clock = Stopwatch.StartNew();
        await session.RunAsync(store, store, neurons, RunStep.ExplainAndScore, cancellationToken: cancel);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Explains and scores a copy of a real collected store, all its neurons, the same way.</summary>
    static async Task CompareRun(TextWriter output, string runDirectory, CancellationToken cancel)
    {
        string copy = Path.Combine(Path.GetTempPath(), $"neuron-explainer-store-bench-compare-{Environment.ProcessId}");
        Directory.CreateDirectory(copy);
        try
        {
            File.Copy(Path.Combine(runDirectory, SqliteStoreFile), Path.Combine(copy, SqliteStoreFile));
            // Opened for writing (a store of an older schema is converted first, untimed).
            using var store = NeuronStores.OpenExisting(copy);
            if (store.ListScores().Count > 0)
                throw new NeuronExplainerException($"--compare-store {runDirectory} already holds results; give a store that is collected but not explained");
            var neurons = store.ListNeurons();
            double cpu = Cpu();
            double seconds = await ExplainAndScore(store, neurons, cancel);
            output.WriteLine($"explain+score (baseline pair) of {runDirectory}: {neurons.Count:N0} neurons in {seconds:0.00} s = {neurons.Count / seconds:N0} neurons/s " +
                $"({(Cpu() - cpu) / neurons.Count * 1e3:0.00} ms CPU a neuron); load average {LoadAverage()}");
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    const string SqliteStoreFile = "store.db";

    static async Task Viewer(TextWriter output, INeuronStore store, SyntheticStore.Shape shape, int requests, CancellationToken cancel)
    {
        await using var app = ViewerApp.Build(store, new ViewerOptions(IPAddress.Loopback, 0));
        await app.StartAsync(cancel);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var random = new Random(5);
        var routes = new (string Name, Func<string> Path)[]
        {
            ("/api/summary", () => "/api/summary"),
            ("neuron page /api/neurons/L/N", () => $"/api/neurons/{random.Next(shape.Layers)}/{random.Next(shape.NeuronsPerLayer)}"),
            ("layer listing /api/layers/L", () => $"/api/layers/{random.Next(shape.Layers)}"),
            ($"search, a word in every explanation (\"{SyntheticStore.CommonWord}\")", () => $"/api/search?q={SyntheticStore.CommonWord}"),
            ("search, a token word (~1 in 1,000 explanations)", () => $"/api/search?q={SyntheticStore.TokenWord(random.Next(SyntheticStore.Vocabulary))}"),
            ("search, two words", () => $"/api/search?q={SyntheticStore.CommonWord}+{SyntheticStore.TokenWord(random.Next(SyntheticStore.Vocabulary))}"),
        };
        output.WriteLine($"viewer over loopback HTTP, {requests} requests per route (after 3 untimed), load average {LoadAverage()}:");
        foreach (var (name, path) in routes)
        {
            var times = new List<double>();
            for (int i = 0; i < requests + 3; i++)
            {
                var clock = Stopwatch.StartNew();
                using var response = await http.GetAsync(path(), cancel);
                await response.Content.ReadAsByteArrayAsync(cancel);
                if (!response.IsSuccessStatusCode) throw new NeuronExplainerException($"{name}: HTTP {(int)response.StatusCode}");
                if (i >= 3) times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            output.WriteLine($"  {name}: median {times[times.Count / 2]:0.0} ms, 90th percentile {times[(int)(times.Count * 0.9)]:0.0} ms, max {times[^1]:0.0} ms");
        }
        await app.StopAsync(cancel);
    }

    static int[] Collections() => [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];

    /// <summary>This process's CPU seconds: on a shared machine, wall time depends on everyone else.</summary>
    static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    static long PeakRssKb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        return 0;
    }

    static string PeakRss() => $"{PeakRssKb() / 1024:N0} MB";

    static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}

/// <summary>
/// The bench's synthetic store: tokens from a made-up vocabulary, windows from a corpus pool shared by all neurons (as
/// collection shares them), records of default settings' sizes, baseline-style explanations and one result per neuron.
/// </summary>
static class SyntheticStore
{
    public sealed record Shape(int Layers, int NeuronsPerLayer, int ExplainLayer)
    {
        public int Neurons => Layers * NeuronsPerLayer;
    }

    public const int Vocabulary = 50_000, SeqLen = 64, Top = 40, RandomCount = 40, Quantiles = 5, PerQuantile = 10, CorpusWindows = 16_384;
    public const string CommonWord = "tokens";
    const string Model = "gpt2-xl-shaped (synthetic, bench store)";

    public static string TokenWord(int token) => $"w{token}";

    public static bool IsBuilt(INeuronStore store, Shape shape) =>
        store.GetManifest() is { Model: Model } manifest && manifest.Settings.GetValueOrDefault("bench.shape") == $"{shape}"
        && store.GetCollectionState() == CollectionState.Complete;

    public static void Build(INeuronStore store, Shape shape, Action<int, int> progress)
    {
        store.PutManifest(new RunManifest(Model, "synthetic", new Dictionary<string, string> { ["bench.shape"] = $"{shape}", ["collect.seq_len"] = $"{SeqLen}" },
            "bench", DateTimeOffset.UtcNow));
        var window = new string[CorpusWindows][];
        var corpus = new Random(11);
        for (int w = 0; w < CorpusWindows; w++) window[w] = [.. Enumerable.Range(0, SeqLen).Select(_ => " " + TokenWord(Zipf(corpus)))];
        const int Chunk = 800;
        for (int layer = 0; layer < shape.Layers; layer++)
        {
            var layerRandom = new Random(100 + layer);
            // Shared by every neuron of the layer, as collection draws them.
            var randomWindows = Enumerable.Range(0, RandomCount).Select(_ => layerRandom.Next(CorpusWindows)).ToArray();
            var poolWindows = Enumerable.Range(0, Quantiles * PerQuantile).Select(_ => layerRandom.Next(CorpusWindows)).ToArray();
            for (int start = 0; start < shape.NeuronsPerLayer; start += Chunk)
            {
                int count = Math.Min(Chunk, shape.NeuronsPerLayer - start);
                var records = new NeuronRecord[count];
                // The explained layer gets activations in the form collection writes (a float's shortest decimal, the costlier
                // form to read and check); the others plain float32 values, which take the same 4 bytes and build faster.
                bool shortest = layer == shape.ExplainLayer;
                Parallel.For(0, count, i => records[i] = Record(new NeuronId(layer, start + i), window, randomWindows, poolWindows, shortest));
                store.Batch(() =>
                {
                    store.PutNeuronRecords(records);
                    foreach (var record in records)
                    {
                        var random = new Random(record.NeuronId.LayerIndex * 100_003 + record.NeuronId.NeuronIndex);
                        store.PutActivationBasedTokens(record.NeuronId, new TokenLookupTableSummaryOfNeuron(Tokens(random, 50), Values(random, 50, 3)));
                        store.PutWeightBasedTokens(record.NeuronId, new WeightBasedSummaryOfNeuron(Weights(random, 1), Weights(random, -1), Weights(random, 1), Weights(random, -1)));
                        store.PutConnections(record.NeuronId, new NeuronConnections(
                            layer == 0 ? null : Connections(random, layer - 1, shape.NeuronsPerLayer),
                            layer == shape.Layers - 1 ? null : Connections(random, layer + 1, shape.NeuronsPerLayer)));
                        if (layer != shape.ExplainLayer) store.PutExplanationResult(Result(record, random));
                    }
                });
            }
            progress(layer, shape.NeuronsPerLayer);
        }
        store.MarkCollectionComplete();
    }

    /// <summary>A token drawn with a Zipf-like law, so some words are common and most rare, as in text.</summary>
    static int Zipf(Random random) => Math.Min(Vocabulary - 1, (int)Math.Exp(random.NextDouble() * Math.Log(Vocabulary)));

    static NeuronRecord Record(NeuronId id, string[][] window, int[] randomWindows, int[] poolWindows, bool shortest)
    {
        var random = new Random(id.LayerIndex * 100_003 + id.NeuronIndex * 7 + 1);
        ActivationRecord Excerpt(int w, double peak)
        {
            var values = new double[SeqLen];
            int at = random.Next(SeqLen);
            for (int t = 0; t < SeqLen; t++)
            {
                double x = (random.NextDouble() - 0.3) * 0.5 + (t == at ? peak : 0);
                // Five decimals round-trip through a float's shortest decimal, the form collection writes.
                values[t] = shortest ? Math.Round(x, 5) : (float)x;
            }
            return new ActivationRecord(window[w], values);
        }
        var top = Enumerable.Range(0, Top).Select(k => Excerpt(random.Next(CorpusWindows), 4 - k * 0.05)).ToArray();
        var sample = randomWindows.Select(w => Excerpt(w, 0)).ToArray();
        var bins = Enumerable.Range(0, Quantiles).Select(q => (IReadOnlyList<ActivationRecord>)[.. poolWindows.Skip(q * PerQuantile).Take(PerQuantile).Select(w => Excerpt(w, q * 0.5))]).ToArray();
        return new NeuronRecord(id, sample, bins, [0, 0.5, 1, 1.5, 2, 4], 0.01, 0.05, 0.1, 5, top);
    }

    /// <summary>A result as the baseline pair writes one: a token-list explanation scored on 10 top and 10 random valid excerpts.</summary>
    static NeuronExplanationResult Result(NeuronRecord record, Random random)
    {
        var valid = record.ValidRecords();
        var words = Enumerable.Range(0, 6).Select(_ => $"\"{TokenWord(Zipf(random))}\" ({random.Next(10, 99) / 10.0})");
        string text = $"{CommonWord} {string.Join(", ", words)}; right after \"{TokenWord(Zipf(random))}\" ({random.Next(10, 99) / 10.0})";
        static SequenceSimulation PointMass(IReadOnlyList<string> tokens, double[] values, ActivationScale scale) =>
            SequenceSimulation.PointMass(tokens, values, scale) with { Method = "baseline" };
        var simulations = valid.Select(r =>
        {
            double[] uncalibrated = [.. r.Activations.Select(a => a > 1 ? 4.2 : 0)];
            return PointMass(r.Tokens, [.. uncalibrated.Select(u => 0.37 * u + 0.013)], ActivationScale.NeuronActivations) with
            {
                UncalibratedSimulation = PointMass(r.Tokens, uncalibrated, ActivationScale.SimulatedNormalizedActivations),
            };
        }).ToList();
        var scored = SimulationScorer.Score(valid, simulations, resamples: 10);
        return new NeuronExplanationResult(record.NeuronId, BaselineExplainer.BaselineName, BaselineExplainer.BaselineName, NeuronStatus.Done, null,
            new NeuronSimulationResults(record.NeuronId, [new ScoredExplanation(text, scored)]), 0, DateTimeOffset.UtcNow);
    }

    static List<string> Tokens(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => " " + TokenWord(Zipf(random)))];

    static List<double> Values(Random random, int count, double scale) => [.. Enumerable.Range(0, count).Select(_ => (double)(float)(random.NextDouble() * scale))];

    static TokensAndWeights Weights(Random random, int sign) => new(Tokens(random, 20), [.. Values(random, 20, 1).Select(v => sign * v)]);

    static ConnectionList Connections(Random random, int layer, int perLayer) => new(
        [.. Enumerable.Range(0, 10).Select(_ => $"{layer}_{random.Next(perLayer)}")], Values(random, 10, 1),
        [.. Enumerable.Range(0, 10).Select(_ => $"{layer}_{random.Next(perLayer)}")], [.. Values(random, 10, 1).Select(v => -v)]);
}
