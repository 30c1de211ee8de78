using NeuronExplainer.Tests.Engine;
using NeuronExplainer.Cli;
using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

public sealed class CollectorTests : IDisposable
{
    readonly TempDirectory temp = new();

    string directory => temp.Path;

    public void Dispose() => temp.Dispose();

    const int SeqLen = 16;
    readonly string corpus;
    readonly List<string> documents;

    static readonly CollectionSettings Small = new()
    {
        SequenceLength = SeqLen, TopK = 5, RandomSamples = 4, Quantiles = 3, PerQuantile = 2,
        MinTokenCount = 3, TokenTableSize = 6, ConnectionCount = 4, BatchWindows = 4, CheckpointWindows = 10, Seed = 7,
    };

    public CollectorTests()
    {
        var random = new Random(3);
        documents = Enumerable.Range(0, 60)
            .Select(_ => new string(Enumerable.Range(0, random.Next(5, 90)).Select(_ => (char)('a' + random.Next(0, 12))).ToArray()))
            .ToList();
        corpus = Path.Combine(directory, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", documents));
    }

    /// <summary>Every window of the corpus in order with its activations, computed directly.</summary>
    List<(long Id, int[] Tokens)> AllWindows()
    {
        var tokenizer = new ByteTokenizer();
        long id = 0;
        return documents.SelectMany(d => Windowing.Cut(tokenizer.Encode(d), SeqLen)).Select(w => (id++, w)).ToList();
    }

    static double[] Activations(int layer, int neuron, int[] window) =>
        Enumerable.Range(0, window.Length).Select(p => (double)FakeModel.Activation(layer, neuron, window, p)).ToArray();

    static string Text(IEnumerable<string> tokens) => string.Concat(tokens);

    int stores;

    SqliteNeuronStore NewStore() => SqliteNeuronStore.Open(Path.Combine(directory, $"store{stores++}"));

    /// <summary>Collects into a new store and reads everything back from it.</summary>
    Collected Collect(CollectionSettings settings, FakeModel? model = null)
    {
        using var store = NewStore();
        new Collector(model ?? new FakeModel(), settings, new CorpusOptions(corpus), "fake").Run(store, "test");
        return Collected.From(store);
    }

    sealed record Collected(Dictionary<NeuronId, NeuronRecord> Records, Dictionary<NeuronId, TokenLookupTableSummaryOfNeuron> TokenTables)
    {
        public static Collected From(INeuronStore store)
        {
            var ids = store.ListNeurons();
            return new(ids.ToDictionary(i => i, i => store.GetNeuronRecord(i)!), ids.ToDictionary(i => i, i => store.GetActivationBasedTokens(i)!));
        }
    }

    /// <summary>Nothing was written: no manifest, checkpoint or record.</summary>
    static void AssertEmpty(INeuronStore store)
    {
        Assert.Null(store.GetManifest());
        Assert.Null(store.GetCheckpoint(Collector.CheckpointStage));
        Assert.Empty(store.ListNeurons());
    }

    [Fact]
    public void TopRecordsAreTheWindowsWithTheHighestMaxActivation()
    {
        var store = Collect(Small);
        var windows = AllWindows();
        Assert.Equal(3 * 7, store.Records.Count);
        foreach (var (id, record) in store.Records)
        {
            var expected = windows
                .Select(w => (w.Id, w.Tokens, Acts: Activations(id.LayerIndex, id.NeuronIndex, w.Tokens)))
                .OrderByDescending(w => (float)w.Acts.Max()).ThenBy(w => w.Id).Take(5).ToList();
            Assert.Equal(expected.Select(e => Text(e.Tokens.Select(t => ((char)t).ToString()))), record.MostPositiveActivationRecords.Select(r => Text(r.Tokens)));
            for (int i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i].Acts, record.MostPositiveActivationRecords[i].Activations.ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
            Assert.DoesNotContain(record.MostPositiveActivationRecords, r => r.Activations.Contains(FakeModel.BosActivation));
        }
    }

    [Fact]
    public void MomentsAndQuantilesMatchABruteForcePass()
    {
        var store = Collect(Small);
        var windows = AllWindows();
        foreach (var (id, record) in store.Records)
        {
            var all = windows.SelectMany(w => Activations(id.LayerIndex, id.NeuronIndex, w.Tokens)).ToArray();
            double mean = all.Average(), variance = all.Sum(a => (a - mean) * (a - mean)) / all.Length;
            Assert.Equal(mean, record.Mean!.Value, 1e-5);
            Assert.Equal(variance, record.Variance!.Value, 1e-5);
            double skewness = all.Sum(a => Math.Pow(a - mean, 3)) / all.Length / Math.Pow(variance, 1.5);
            Assert.Equal(skewness, record.Skewness!.Value, 1e-4);

            var maxima = windows.Select(w => Activations(id.LayerIndex, id.NeuronIndex, w.Tokens).Max()).ToArray();
            var boundaries = record.QuantileBoundaries!;
            Assert.Equal(4, boundaries.Count);
            Assert.Equal(maxima.Min(), boundaries[0], 1e-6);
            Assert.Equal(maxima.Max(), boundaries[3], 1e-6);
            Assert.True(boundaries.Zip(boundaries.Skip(1)).All(p => p.First <= p.Second), "boundaries must rise");
            // Fewer windows than the maxima reservoir: the interior boundaries are the exact quantiles.
            var sorted = maxima.Order().ToArray();
            Assert.Equal(sorted[(int)Math.Round((sorted.Length - 1) / 3.0)], boundaries[1], 0.3);
            var bins = record.RandomSampleByQuantile!;
            Assert.Equal(3, bins.Count);
            // The pool of 2 x 3 x 2 windows is uniform, so a bin can come up short, but rarely all of them.
            Assert.InRange(bins.Sum(b => b.Count), 3, 6);
            for (int b = 0; b < 3; b++)
            {
                Assert.InRange(bins[b].Count, 0, 2);
                Assert.All(bins[b], r => Assert.InRange(r.MaxActivation, boundaries[b] - 1e-6, boundaries[b + 1] + 1e-6));
            }
        }
    }

    [Fact]
    public void TheRandomSampleIsSeededDistinctAndSharedByEveryNeuron()
    {
        var first = Collect(Small);
        var again = Collect(Small);
        var other = Collect(Small with { Seed = 8 });
        string Sample(Collected s, int layer, int neuron) =>
            string.Join("|", s.Records[new NeuronId(layer, neuron)].RandomSample.Select(r => Text(r.Tokens)));
        Assert.Equal(Sample(first, 1, 2), Sample(again, 1, 2));
        Assert.NotEqual(Sample(first, 1, 2), Sample(other, 1, 2));
        // One sample of windows for the whole collection (README: shared samples), each neuron with its own activations on it.
        Assert.Single(first.Records.Keys.Select(id => Sample(first, id.LayerIndex, id.NeuronIndex)).Distinct());
        var windows = AllWindows().ToDictionary(w => Text(w.Tokens.Select(t => ((char)t).ToString())));
        Assert.All(first.Records, pair =>
        {
            Assert.Equal(4, pair.Value.RandomSample.Count);
            Assert.Equal(4, pair.Value.RandomSample.Select(s => Text(s.Tokens)).Distinct().Count());
            foreach (var record in pair.Value.RandomSample)
                Assert.Equal(Activations(pair.Key.LayerIndex, pair.Key.NeuronIndex, windows[Text(record.Tokens)].Tokens), record.Activations.ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
        });
    }

    [Fact]
    public void SharedReservoirsAreUniformOverWindows()
    {
        // Algorithm R with hashed draws: over many seeds every window is in the random sample with probability
        // R / windows and in the pool with probability 2QP / windows; a chi-square statistic over the windows must
        // stay within five standard deviations of its expectation (windows - 1).
        const int windows = 60, seeds = 3000;
        var settings = Small with { RandomSamples = 4, Quantiles = 3, PerQuantile = 2 };
        var inRandom = new int[windows];
        var inPool = new int[windows];
        for (int seed = 0; seed < seeds; seed++)
        {
            var shared = new SharedSamples(settings with { Seed = (ulong)seed });
            var kept = new WindowTokens();
            for (int w = 0; w < windows; w++) shared.Add(new TokenWindow(w, [w]), w, kept);
            foreach (long id in shared.Random) inRandom[id]++;
            foreach (long id in shared.Pool) inPool[id]++;
            Assert.Equal(shared.WindowIds().Length, kept.Count);
        }
        foreach (var (counts, capacity) in new[] { (inRandom, 4), (inPool, 12) })
        {
            double expected = (double)seeds * capacity / windows;
            double chiSquare = counts.Sum(c => Math.Pow(c - expected, 2) / expected);
            int freedom = windows - 1;
            Assert.InRange(chiSquare, freedom - 5 * Math.Sqrt(2 * freedom), freedom + 5 * Math.Sqrt(2 * freedom));
        }
    }

    [Fact]
    public void TheMaximaSampleIsUniformOverWindows()
    {
        const int windows = 3000, seeds = 40;
        var counts = new int[windows];
        for (int seed = 0; seed < seeds; seed++)
        {
            var shared = new SharedSamples(Small with { Seed = (ulong)seed });
            var slots = new long[SharedSamples.MaximaSampleSize];
            for (int w = 0; w < windows; w++)
                if (shared.MaximaSlot(w) is var slot and >= 0) slots[slot] = w;
            foreach (long w in slots) counts[w]++;
        }
        // Inclusion probability 1024 / 3000 for each window; compare the first, middle and last thirds.
        double expected = seeds * (double)SharedSamples.MaximaSampleSize / 3;
        foreach (var third in counts.Chunk(windows / 3)) Assert.InRange(third.Sum(), expected * 0.95, expected * 1.05);
    }

    [Fact]
    public void TokenTableHoldsTheTokensWithTheHighestMeanActivation()
    {
        var store = Collect(Small);
        var windows = AllWindows();
        var id = new NeuronId(2, 3);
        var occurrences = windows.SelectMany(w => w.Tokens.Select((t, p) => (Token: t, Act: (double)FakeModel.Activation(2, 3, w.Tokens, p))))
            .GroupBy(o => o.Token).Where(g => g.Count() >= 3)
            .Select(g => (Token: ((char)g.Key).ToString(), Mean: g.Average(o => o.Act), Count: (long)g.Count()))
            .OrderByDescending(g => g.Mean).Take(6).ToList();
        var table = store.TokenTables[id];
        Assert.Equal(occurrences.Select(o => o.Token), table.Tokens);
        Assert.Equal(occurrences.Select(o => o.Count), table.Counts!);
        Assert.Equal(occurrences.Select(o => o.Mean), table.AverageActivations, (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public void KilledCollectionResumesToTheSameRecords()
    {
        var uninterrupted = Collect(Small);
        using var store = NewStore();
        var collector = new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake");
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => collector.Run(store, "test", p => { if (p.Stage == "collecting" && p.Documents >= 35) stop.Cancel(); }, cancellation: stop.Token));
        // The store names a checkpoint file beside it, streamed there, instead of holding the state as one blob.
        Assert.InRange(store.GetCheckpoint(Collector.CheckpointStage)!.Length, 1, 100);
        var files = Directory.GetFiles(Path.GetDirectoryName(store.Location)!, "collect-checkpoint-*.bin");
        Assert.Single(files);
        Assert.True(new FileInfo(files[0]).Length > 10_000);
        Assert.Empty(store.ListNeurons());
        var summary = new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test");
        Assert.True(summary.Resumed);
        Assert.Null(store.GetCheckpoint(Collector.CheckpointStage));
        Assert.Equal(AllWindows().Count, summary.Windows);
        var resumed = Collected.From(store);
        foreach (var (id, record) in uninterrupted.Records)
        {
            Assert.Equal(JsonSerializer.Serialize(record, DatasetJson.Default.NeuronRecord), JsonSerializer.Serialize(resumed.Records[id], DatasetJson.Default.NeuronRecord));
            Assert.Equal(JsonSerializer.Serialize(uninterrupted.TokenTables[id], DatasetJson.Default.TokenLookupTableSummaryOfNeuron),
                JsonSerializer.Serialize(resumed.TokenTables[id], DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(store.Location)!, "collect-checkpoint-*"));
        var done = new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test");
        Assert.True(done.AlreadyComplete);
    }

    [Fact]
    public void ACollectionKilledWhileWritingRecordsStaysIncompleteUntilCollectRunsAgain()
    {
        var uninterrupted = Collect(Small);
        using var store = NewStore();
        Collector Fresh() => new(new FakeModel(), Small, new CorpusOptions(corpus), "fake");
        using (StoreFaults.FailRecordsOfLayer(store.Location, layer: 1))
            Assert.Throws<NeuronExplainerException>(() => Fresh().Run(store, "test"));
        // Records are written last, layer by layer after the second pass: layer 0's landed, layer 1's did not.
        Assert.NotNull(store.GetNeuronRecord(new NeuronId(0, 0)));
        Assert.Null(store.GetNeuronRecord(new NeuronId(1, 0)));
        Assert.Equal(CollectionState.Incomplete, store.GetCollectionState());
        var refused = Assert.Throws<NeuronExplainerException>(store.EnsureCollectionComplete);
        Assert.Contains("incomplete collection (collect was stopped or is still running", refused.Message);
        Assert.Contains("run collect again", refused.Message);

        var repaired = Fresh().Run(store, "test");
        Assert.False(repaired.AlreadyComplete);
        Assert.Equal(CollectionState.Complete, store.GetCollectionState());
        store.EnsureCollectionComplete();
        Assert.Equal(uninterrupted.Records.Keys.ToHashSet(), store.ListNeurons().ToHashSet());
        Assert.True(Fresh().Run(store, "test").AlreadyComplete);
    }

    /// <summary>
    /// Once checkpoint 1 is written, the next checkpoint file is made a link to /dev/full, so writing it fails as on a
    /// full disk: the error names the file and the numbers, the store still names checkpoint 1, and a new collect
    /// (with room) resumes from it to the records of an uninterrupted run.
    /// </summary>
    [Fact]
    public void ADiskThatFillsDuringACheckpointIsAClearErrorAndTheStoreKeepsItsLastCheckpoint()
    {
        Assert.True(File.Exists("/dev/full"), "this test needs Linux's /dev/full");
        var uninterrupted = Collect(Small);
        using var store = NewStore();
        string folder = Path.GetDirectoryName(store.Location)!, next = Path.Combine(folder, "collect-checkpoint-2.bin.partial");
        var error = Assert.Throws<NeuronExplainerException>(() => new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test", _ =>
        {
            if (store.GetCheckpoint(Collector.CheckpointStage) is not null && !File.Exists(next)) File.CreateSymbolicLink(next, "/dev/full");
        }));
        Assert.Contains($"could not write the collection checkpoint {Path.Combine(folder, "collect-checkpoint-2.bin")}", error.Message);
        Assert.Matches(@"after [\d,]+ of about [\d,]+ bytes, with [\d,]+ bytes free on its disk now", error.Message);
        Assert.Contains("the store keeps checkpoint 1, so a new collect resumes from there", error.Message);
        Assert.EndsWith(" 1 " + new FileInfo(Path.Combine(folder, "collect-checkpoint-1.bin")).Length,
            System.Text.Encoding.UTF8.GetString(store.GetCheckpoint(Collector.CheckpointStage)!));
        Assert.Empty(store.ListNeurons());
        Assert.False(File.Exists(next));

        Assert.True(new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test").Resumed);
        var resumed = Collected.From(store);
        foreach (var (id, record) in uninterrupted.Records)
            Assert.Equal(JsonSerializer.Serialize(record, DatasetJson.Default.NeuronRecord), JsonSerializer.Serialize(resumed.Records[id], DatasetJson.Default.NeuronRecord));
    }

    [Fact]
    public void ATruncatedCheckpointFileIsRefusedClearly()
    {
        using var store = NewStore();
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake")
            .Run(store, "test", p => { if (p.Stage == "collecting" && p.Documents >= 35) stop.Cancel(); }, cancellation: stop.Token));
        var file = Directory.GetFiles(Path.GetDirectoryName(store.Location)!, "collect-checkpoint-*.bin").Single();
        using (var stream = File.OpenWrite(file)) stream.SetLength(stream.Length / 2);
        var error = Assert.Throws<NeuronExplainerException>(() => new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test"));
        Assert.Contains("where the store recorded", error.Message);
        Assert.EndsWith(Collector.StartOverAdvice, error.Message);
        Assert.EndsWith("run collect with --force to start over", SettingFlags.Message(error));
    }

    [Fact]
    public void EveryMemoryPlanGivesTheSameRecords()
    {
        var generous = Collect(Small);
        // Just above the least budget: top-K activations are recomputed after the pass, one layer group at a time.
        var model = new FakeModel();
        var census = CorpusCensus.Count(new CorpusOptions(corpus), model, Small, null, null, default);
        var layers = Small.Validate(model.Info);
        var keep = MemoryPlanner.Plan(model.Info, layers, Small, census, 1L << 30);
        Assert.True(keep.KeepTopActivations);
        Assert.Single(keep.Groups);
        long tight = Enumerable.Range(1, 4000).Select(i => i * 256L).First(b =>
        {
            try { return !MemoryPlanner.Plan(model.Info, layers, Small, census, b).KeepTopActivations; }
            catch (NeuronExplainerException) { return false; }
        });
        var plan = MemoryPlanner.Plan(model.Info, layers, Small, census, tight);
        Assert.False(plan.KeepTopActivations);
        Assert.Equal(3, plan.Groups.Count);
        // The model's buffers go after each group's second pass, before its records are made.
        var counted = new FakeModel();
        var recomputed = Collect(Small with { MemoryBudget = tight }, counted);
        Assert.Equal(plan.Groups.Count, counted.BufferReleases);
        foreach (var (id, record) in generous.Records)
            Assert.Equal(JsonSerializer.Serialize(record, DatasetJson.Default.NeuronRecord), JsonSerializer.Serialize(recomputed.Records[id], DatasetJson.Default.NeuronRecord));
    }

    [Fact]
    public void ABudgetThatNoPlanFitsIsRefusedBeforeThePassWithTheNumbers()
    {
        using var store = NewStore();
        var model = new FakeModel();
        var error = Assert.Throws<NeuronExplainerException>(() => new Collector(model, Small with { MemoryBudget = 4096 }, new CorpusOptions(corpus), "fake").Run(store, "test"));
        Assert.Matches(@"collection needs [\d.]+ KiB for its first pass, more than the memory budget of 4\.0 KiB", error.Message);
        Assert.Contains("raise CollectionSettings.MemoryBudget", error.Message);
        Assert.Contains("raise --memory", SettingFlags.Message(error));
        Assert.Equal(0, model.ForwardCalls);
        AssertEmpty(store);
        var tooMuch = Assert.Throws<SettingException>(() => new Collector(model, Small with { MemoryBudget = long.MaxValue / 2 }, new CorpusOptions(corpus), "fake").Run(store, "test"));
        Assert.Equal("CollectionSettings.MemoryBudget", tooMuch.Setting);
        Assert.StartsWith("--memory 4294967296.0 GiB is more than the", SettingFlags.Message(tooMuch));
    }

    [Fact]
    public void TheRefusalNamesAMinTokenCountThatFits()
    {
        // GPT-2 small's shape over a census where token t occurs t % 200 times: the sums of all tokens seen 5 times
        // need about 6.6 GiB, so a 3 GiB budget is refused with the least --min-token-count that fits.
        var gpt2 = new NeuronExplainer.Models.ModelInfo("gpt2-shaped", "gpt2", 12, 768, 3072, 50257, 1024, false, 12, 64);
        var counts = Enumerable.Range(0, 50257).Select(t => (long)(t % 200)).ToArray();
        var census = new CorpusCensus(1000, 3125, 200_000, 0, 64, counts);
        var settings = new CollectionSettings();
        var layers = settings.Validate(gpt2);
        const long budget = 3L << 30;
        var error = Assert.Throws<NeuronExplainerException>(() => MemoryPlanner.Plan(gpt2, layers, settings, census, budget));
        Assert.Contains("more than the memory budget of 3.0 GiB", error.Message);
        Assert.Contains("token lookup sums: 36,864 neurons x 48,997 tokens seen >= CollectionSettings.MinTokenCount 5 times", error.Message);
        var cli = SettingFlags.Message(error);
        Assert.Contains("token lookup sums: 36,864 neurons x 48,997 tokens seen >= --min-token-count 5 times", cli);
        var count = int.Parse(System.Text.RegularExpressions.Regex.Match(cli, @"--min-token-count (\d+) \(keeps").Groups[1].Value);
        var fits = MemoryPlanner.Plan(gpt2, layers, settings with { MinTokenCount = count }, census, budget);
        Assert.True(fits.PassBytes <= budget && fits.RecordBytes <= budget);
        Assert.Throws<NeuronExplainerException>(() => MemoryPlanner.Plan(gpt2, layers, settings with { MinTokenCount = count - 1 }, census, budget));
    }

    [Fact]
    public void AnSaePlanNamesItsUnitsLatents()
    {
        var weights = NeuronExplainer.Models.ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using var model = new NeuronExplainer.Models.Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        var sae = NeuronExplainer.Models.Sae.SaeLoader.Load(SaeTests.Fixture("gpt2-tiny", "relu-resid-pre"));
        var units = UnitSource.SaeLatents(sae, "s", model.Info);
        var census = new CorpusCensus(10, 40, 2_000, 0, 64, [.. Enumerable.Range(0, model.Info.VocabSize).Select(t => (long)(t % 9))]);
        var settings = new CollectionSettings { SequenceLength = 32 };
        var plan = MemoryPlanner.Plan(model.Info, units.FixedLayers!, settings, census, 1L << 30, units: units);
        var lines = plan.Describe().ToList();
        Assert.Contains(lines, l => l.Contains($"maxima sample: {sae.Config.LatentCount} latents x 40 shared windows", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"top-K window ids and keys: {sae.Config.LatentCount} latents", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(" neurons", StringComparison.Ordinal));
        // MLP neurons keep their name.
        Assert.Contains(MemoryPlanner.Plan(model.Info, [0], settings, census, 1L << 30).Describe(), l => l.Contains($"{model.Info.MlpDim} neurons x", StringComparison.Ordinal));
    }

    [Fact]
    public void MaxTokensStopsAtWholeWindowsAndGptStyleModelsGetNoBos()
    {
        using var store = NewStore();
        var summary = new Collector(new FakeModel(prependsBos: false), Small with { MaxTokens = 100 }, new CorpusOptions(corpus), "fake").Run(store, "test");
        Assert.InRange(summary.Tokens, 100 - SeqLen + 1, 100);
        Assert.Equal(AllWindows().TakeWhile((w, i) => AllWindows().Take(i + 1).Sum(x => x.Tokens.Length) <= 100).Count(), summary.Windows);
        Assert.Equal(21, store.ListNeurons().Count);
        Assert.NotNull(store.GetWeightBasedTokens(new NeuronId(1, 1)));
    }

    [Fact]
    public void WeightViewsLeftOutChangeNoRecordAndAreNamedInTheManifest()
    {
        using var withViews = NewStore();
        new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(withViews, "test");
        using var without = NewStore();
        new Collector(new FakeModel(), Small with { WeightViews = false }, new CorpusOptions(corpus), "fake").Run(without, "test");

        var id = new NeuronId(1, 1);
        Assert.NotNull(withViews.GetWeightBasedTokens(id));
        Assert.NotNull(withViews.GetConnections(id));
        Assert.Null(without.GetWeightBasedTokens(id));
        Assert.Null(without.GetConnections(id));
        Assert.Equal(Collected.From(withViews).Records.Values.Select(StoreRecordText), Collected.From(without).Records.Values.Select(StoreRecordText));
        Assert.Equal(Collected.From(withViews).TokenTables.Values, Collected.From(without).TokenTables.Values, (a, b) => a.Tokens.SequenceEqual(b.Tokens));
        Assert.Equal("none", without.GetManifest()!.Settings["collect.weight_views"]);
        // Left out of a default collection's manifest, so stores collected before the setting existed still match.
        Assert.False(withViews.GetManifest()!.Settings.ContainsKey("collect.weight_views"));
    }

    static string StoreRecordText(NeuronRecord record) => JsonSerializer.Serialize(record, DatasetJson.Default.NeuronRecord);

    [Theory]
    [InlineData("layers", "--layers names layer 3 but fake has layers 0..2")]
    [InlineData("topk", "--top-k is 0; expected 1..10000")]
    [InlineData("random", "--random is 1000000; expected 1..10000")]
    [InlineData("seq", "--seq-len is 500; expected 2..255")]
    public void BadSettingsAreRefusedBeforeAnythingIsRead(string what, string message)
    {
        var settings = what switch
        {
            "layers" => Small with { Layers = [0, 3] },
            "topk" => Small with { TopK = 0 },
            "random" => Small with { RandomSamples = 1_000_000 },
            _ => Small with { SequenceLength = 500 },
        };
        // The library names the setting; the CLI shows the flag that sets it.
        var error = Assert.Throws<SettingException>(() => new Collector(new FakeModel(), settings, new CorpusOptions(corpus), "fake"));
        Assert.Contains(message, NeuronExplainer.Cli.SettingFlags.Message(error));
    }

    [Fact]
    public void ACorpusShorterThanOneWindowLeavesTheStoreUntouched()
    {
        var tiny = Path.Combine(directory, "tiny.txt");
        File.WriteAllText(tiny, "abc\n<|endoftext|>\nabcdef");
        using var store = NewStore();
        var collector = new Collector(new FakeModel(), Small, new CorpusOptions(tiny), "fake");
        var error = Assert.Throws<NeuronExplainerException>(() => collector.Run(store, "test"));
        Assert.Contains("yields no window of CollectionSettings.SequenceLength 16", error.Message);
        Assert.Contains("yields no window of --seq-len 16", SettingFlags.Message(error));
        AssertEmpty(store);
    }

    [Fact]
    public void ACorpusOfOnlyInvalidUtf8ReportsItsSkippedLinesNotAShortCorpus()
    {
        var broken = Path.Combine(directory, "broken.txt");
        File.WriteAllBytes(broken, [0xff, 0xfe, (byte)'a', (byte)'\n', 0xc3, 0x28, (byte)'\n', 0x80, (byte)'b']);
        using var store = NewStore();
        var collector = new Collector(new FakeModel(), Small, new CorpusOptions(broken), "fake");
        var error = Assert.Throws<NeuronExplainerException>(() => collector.Run(store, "test"));
        Assert.Contains("all 3 lines were skipped", error.Message);
        Assert.Contains($"{broken}:1: invalid UTF-8", error.Message);
        Assert.DoesNotContain("--seq-len", error.Message);
        AssertEmpty(store);
    }

    [Fact]
    public void AShortCorpusWithSomeSkippedLinesSaysBoth()
    {
        var tiny = Path.Combine(directory, "tiny-broken.txt");
        File.WriteAllBytes(tiny, [(byte)'a', (byte)'b', (byte)'c', (byte)'\n', 0xff, (byte)'\n']);
        var error = Assert.Throws<NeuronExplainerException>(() => new Collector(new FakeModel(), Small, new CorpusOptions(tiny), "fake").EnsureCorpusHasAWindow());
        Assert.Contains("yields no window of CollectionSettings.SequenceLength 16", error.Message);
        Assert.Contains("1 of 2 lines were skipped", error.Message);
        Assert.Contains($"{tiny}:2: invalid UTF-8", error.Message);
    }

    [Fact]
    public void AStoreWithAnotherCollectionIsRefusedAndLeftAlone()
    {
        using var store = NewStore();
        new Collector(new FakeModel(), Small, new CorpusOptions(corpus), "fake").Run(store, "test");
        var manifest = store.GetManifest();
        var before = JsonSerializer.Serialize(store.GetNeuronRecord(new NeuronId(0, 0))!, DatasetJson.Default.NeuronRecord);
        var collector = new Collector(new FakeModel(), Small with { TopK = 6 }, new CorpusOptions(corpus), "fake");
        var error = Assert.Throws<NeuronExplainerException>(() => collector.Run(store, "test"));
        Assert.Contains("collect.top_k 5 vs 6", error.Message);
        Assert.Contains(Collector.StartOverAdvice + ", or use another store", error.Message);
        Assert.Contains("run collect with --force to start over, or use another store", SettingFlags.Message(error));
        Assert.Equal(manifest!.Settings, store.GetManifest()!.Settings);
        Assert.Equal(before, JsonSerializer.Serialize(store.GetNeuronRecord(new NeuronId(0, 0))!, DatasetJson.Default.NeuronRecord));
        Assert.Null(store.GetCheckpoint(Collector.CheckpointStage));
    }

    [Fact]
    public void ParsesLayerLists()
    {
        Assert.Equal([0, 3, 4, 5], IndexList.Parse("0,3-5, 4", "--layers"));
        Assert.Null(IndexList.Parse("all", "--layers"));
        Assert.Equal(("Layers", "'3-1' is not a list; expected 'all' or numbers and ranges such as 0,3-5"),
            Assert.Throws<SettingException>(() => IndexList.Parse("3-1", "Layers")) is var e ? (e.Setting, e.Problem) : default);
        Assert.Throws<SettingException>(() => IndexList.Parse("x", "--layers"));
        var huge = Assert.Throws<SettingException>(() => IndexList.Parse("0-2000000000", "--neurons"));
        Assert.Contains("--neurons '0-2000000000' names more than", huge.Message);
    }
}
