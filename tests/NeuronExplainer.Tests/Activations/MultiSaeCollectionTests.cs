using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Sae;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Engine;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// Several SAEs into one store in one pass, on the tiny GPT-2 with random SAEs of both layouts: an SAELens ReLU SAE at
/// <c>blocks.1.hook_resid_pre</c>, and two at <c>blocks.0.hook_mlp_out</c> (sparsify TopK and SAELens JumpReLU), so
/// SAEs at different layers and hooks and two on one hook. Each latent's records must be exactly those of a collection
/// of its SAE alone, since the forward pass is the same.
/// </summary>
public sealed class MultiSaeCollectionTests : IDisposable
{
    readonly TempDirectory temp = new();
    readonly string corpus;
    int stores;

    public void Dispose() => temp.Dispose();

    static readonly CollectionSettings Settings = new()
    {
        SequenceLength = 16, TopK = 5, RandomSamples = 4, Quantiles = 3, PerQuantile = 2, MinTokenCount = 3, TokenTableSize = 6,
        BatchWindows = 4, CheckpointWindows = 10, Seed = 5,
    };

    /// <summary>The SAEs, by the id each is collected under, and their fixture folders.</summary>
    static readonly (string Id, string Folder)[] Saes = [("res", "relu-resid-pre"), ("sp-mlp", "h.0.mlp"), ("jr-mlp", "jumprelu-mlp-out")];

    public MultiSaeCollectionTests()
    {
        var random = new Random(11);
        corpus = temp.Sub("corpus.txt");
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 60)
            .Select(_ => string.Join(' ', Enumerable.Range(0, random.Next(8, 70)).Select(_ => random.Next(0, 50))))));
    }

    /// <summary>gpt2-tiny (2 layers, d_model 32, a 50-token vocabulary fed as ids), counting its forward passes.</summary>
    static CountingModel Model()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        return new CountingModel(new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize)));
    }

    static UnitSource Latents(ITransformerModel model, string id) =>
        UnitSource.SaeLatents(SaeLoader.Load(SaeTests.Fixture("gpt2-tiny", Saes.Single(s => s.Id == id).Folder)), id, model.Info);

    SqliteNeuronStore NewStore() => SqliteNeuronStore.Open(temp.Sub($"store{stores++}"));

    /// <summary>Collects the SAEs named into a new store; returns it with the forward passes the collection ran.</summary>
    (SqliteNeuronStore Store, int Forwards, CollectionSummary Summary) Collect(CollectionSettings settings, params string[] ids)
    {
        using var model = Model();
        var store = NewStore();
        var summary = new Collector(model, settings, new CorpusOptions(corpus), "gpt2-tiny", ids.Select(id => Latents(model, id)).ToArray()).Run(store, "test");
        return (store, model.ForwardCalls, summary);
    }

    /// <summary>Every stored part of a unit as JSON: record, token table, weight-based tokens.</summary>
    static string Stored(INeuronStore store, NeuronId id) => string.Join("\n",
        JsonSerializer.Serialize(store.GetNeuronRecord(id), DatasetJson.Default.NeuronRecord),
        JsonSerializer.Serialize(store.GetActivationBasedTokens(id), DatasetJson.Default.TokenLookupTableSummaryOfNeuron),
        JsonSerializer.Serialize(store.GetWeightBasedTokens(id), DatasetJson.Default.WeightBasedSummaryOfNeuron));

    /// <summary>Every unit of <paramref name="expected"/> is in <paramref name="actual"/>, stored alike to the byte.</summary>
    static void AssertSameUnits(INeuronStore expected, INeuronStore actual)
    {
        var ids = expected.ListNeurons();
        Assert.NotEmpty(ids);
        foreach (var id in ids) Assert.True(Stored(expected, id) == Stored(actual, id), $"{id} is stored otherwise");
    }

    [Fact]
    public void SeveralSaesInOnePassEqualEachCollectedAlone()
    {
        var (together, forwards, summary) = Collect(Settings, "sp-mlp", "res", "jr-mlp");
        using var _ = together;
        Assert.Equal(96 + 64 + 80, summary.Neurons);
        Assert.Equal(96 + 64 + 80, together.ListNeurons().Count);
        foreach (var (id, _) in Saes)
        {
            var (alone, aloneForwards, _) = Collect(Settings, id);
            using (alone)
            {
                AssertSameUnits(alone, together);
                Assert.All(alone.ListNeurons(), u => Assert.Equal(id, u.Sae));
                // One pass for all three: as many forwards as for one SAE (the same batches, then the same windows again).
                Assert.Equal(aloneForwards, forwards);
            }
        }
        var layerOf = together.ListNeurons().GroupBy(u => u.Sae!).ToDictionary(g => g.Key, g => g.Select(u => u.LayerIndex).Distinct().Single());
        Assert.Equal(new Dictionary<string, int> { ["jr-mlp"] = 0, ["res"] = 1, ["sp-mlp"] = 0 }, layerOf);

        // The manifest records every SAE, in id order, and the latents find their SAE by id.
        var settings = together.GetManifest()!.Settings;
        Assert.Equal("jr-mlp,res,sp-mlp", settings["collect.sae"]);
        Assert.Equal("0,1", settings["collect.layers"]);
        var recorded = CollectedSae.FromManifest(settings);
        Assert.Equal(
            [
                new CollectedSae("jr-mlp", SaeTests.Fixture("gpt2-tiny", "jumprelu-mlp-out"), "blocks.0.hook_mlp_out", 0),
                new CollectedSae("res", SaeTests.Fixture("gpt2-tiny", "relu-resid-pre"), "blocks.1.hook_resid_pre", 1),
                new CollectedSae("sp-mlp", SaeTests.Fixture("gpt2-tiny", "h.0.mlp"), "blocks.0.hook_mlp_out", 0),
            ], recorded);
        Assert.Equal(NeuronId.Latent("sp-mlp", 0, 7), together.GetNeuronRecord(NeuronId.Parse("sae:sp-mlp/7"))!.NeuronId);
    }

    /// <summary>
    /// What makes one pass equal to each SAE's own: reading hook_mlp_out or hook_attn_out leaves every later hook as it is
    /// without them, to the bit (the term read used to be added to the residual stream apart from the fused product).
    /// </summary>
    [Fact]
    public void ReadingAnOutputHookLeavesLaterHooksToTheBit()
    {
        using var model = Model();
        var tokens = Enumerable.Range(0, 32).Select(i => i * 7 % 50).ToArray();
        string[] later = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"];
        var alone = later.ToDictionary(h => h, h => model.Forward(tokens, 2, 16, new ForwardRequest([h])).Hook(h).ToArray());
        var withOutputs = model.Forward(tokens, 2, 16, new ForwardRequest(["blocks.0.hook_attn_out", "blocks.0.hook_mlp_out", .. later]));
        foreach (var hook in later) Assert.True(alone[hook].AsSpan().SequenceEqual(withOutputs.Hook(hook)), $"{hook} changed when earlier output hooks were read");
    }

    [Fact]
    public void TheSameSaesInAnotherOrderAreTheSameCollection()
    {
        var (store, _, _) = Collect(Settings, "res", "sp-mlp");
        using var _ = store;
        using var model = Model();
        var again = new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", [Latents(model, "sp-mlp"), Latents(model, "res")]).Run(store, "test");
        Assert.True(again.AlreadyComplete);
        var other = new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", [Latents(model, "res")]);
        Assert.Contains("collect.sae res,sp-mlp vs res", other.Conflict(store.GetManifest()));
    }

    [Fact]
    public void AKilledCollectionOfSeveralSaesResumesToTheRecordsOfAnUninterruptedRun()
    {
        var (uninterrupted, _, _) = Collect(Settings, "res", "sp-mlp", "jr-mlp");
        using var _ = uninterrupted;
        using var store = NewStore();
        using var model = Model();
        Collector Fresh() => new(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", Saes.Select(s => Latents(model, s.Id)).ToArray());
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => Fresh().Run(store, "test", p => { if (p.Stage == "collecting" && p.Documents >= 35) stop.Cancel(); }, cancellation: stop.Token));
        Assert.NotNull(store.GetCheckpoint(Collector.CheckpointStage));
        Assert.Empty(store.ListNeurons());
        var resumed = Fresh().Run(store, "test");
        Assert.True(resumed.Resumed);
        AssertSameUnits(uninterrupted, store);
        Assert.Equal(uninterrupted.ListNeurons(), store.ListNeurons());
    }

    [Fact]
    public void EveryMemoryPlanOfSeveralSaesGivesTheSameRecords()
    {
        var (generous, _, summary) = Collect(Settings, "res", "sp-mlp", "jr-mlp");
        using var _ = generous;
        Assert.Single(summary.Plan!.Groups);
        Assert.True(summary.Plan.KeepTopActivations);
        using var model = Model();
        var blocks = new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", Saes.Select(s => Latents(model, s.Id)).ToArray()).Blocks;
        var census = CorpusCensus.Count(new CorpusOptions(corpus), model, Settings, null, null, default);
        // The least budget any plan fits: top-K activations recomputed, one SAE per second-pass group.
        long tight = Enumerable.Range(1, 20000).Select(i => i * 1024L).First(b =>
        {
            try { return MemoryPlanner.Plan(model.Info, blocks, Settings, census, b) is not null; }
            catch (NeuronExplainerException) { return false; }
        });
        var plan = MemoryPlanner.Plan(model.Info, blocks, Settings, census, tight);
        Assert.False(plan.KeepTopActivations);
        Assert.Equal(3, plan.Groups.Count);
        Assert.Contains(plan.Describe(), l => l.StartsWith("pass 2 (3 SAE groups of up to 1 SAEs", StringComparison.Ordinal));
        var (recomputed, _, _) = Collect(Settings with { MemoryBudget = tight }, "res", "sp-mlp", "jr-mlp");
        using (recomputed) AssertSameUnits(generous, recomputed);
    }

    [Fact]
    public void ThePlanCountsEverySaeAndRefusesBeforeThePassWhenThemAllDoNotFit()
    {
        using var model = Model();
        var census = CorpusCensus.Count(new CorpusOptions(corpus), model, Settings, null, null, default);
        MemoryPlan Plan(long budget, params string[] ids) => MemoryPlanner.Plan(model.Info,
            new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", ids.Select(id => Latents(model, id)).ToArray()).Blocks, Settings, census, budget);
        var all = Plan(1L << 30, "res", "sp-mlp", "jr-mlp");
        var alone = Saes.Select(s => Plan(1L << 30, s.Id)).ToArray();
        // Per latent items add up over the SAEs; the encoders and buffers too, the model's hook counted once per hook.
        Assert.Equal(alone.Sum(p => p.PassItems[1].Bytes), all.PassItems[1].Bytes);
        Assert.Equal(alone.Sum(p => p.PassItems[2].Bytes), all.PassItems[2].Bytes);
        long rows = 4L * Settings.BatchWindows * Settings.SequenceLength * 32;
        Assert.Equal(alone.Sum(p => p.PassItems[0].Bytes) - rows, all.PassItems[0].Bytes);
        Assert.Contains("SAE encoders (jr-mlp 32 x 80, res 32 x 96, sp-mlp 32 x 64)", all.PassItems[0].What);
        Assert.Contains("240 latents", all.PassItems[1].What);

        // A budget each SAE alone fits but not all three: refused with the numbers before any forward pass.
        long budget = alone.Max(p => p.PassBytes) + 1024;
        Assert.True(all.PassBytes > budget);
        using var store = NewStore();
        var collector = new Collector(model, Settings with { MemoryBudget = budget }, new CorpusOptions(corpus), "gpt2-tiny", Saes.Select(s => Latents(model, s.Id)).ToArray());
        var error = Assert.Throws<NeuronExplainerException>(() => collector.Run(store, "test"));
        Assert.Matches(@"collection needs [\d.]+ KiB for its first pass, more than the memory budget of [\d.]+ KiB", error.Message);
        Assert.Contains("collect fewer SAEs at a time", error.Message);
        Assert.Equal(0, model.ForwardCalls);
        Assert.Null(store.GetManifest());
        Assert.Empty(store.ListNeurons());
    }

    [Fact]
    public void TwoSaesOfOneIdAreRefusedNamingBoth()
    {
        using var model = Model();
        var error = Assert.Throws<NeuronExplainerException>(() => new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny",
            [UnitSource.SaeLatents(SaeLoader.Load(SaeTests.Fixture("gpt2-tiny", "h.0.mlp")), "x", model.Info), UnitSource.SaeLatents(SaeLoader.Load(SaeTests.Fixture("gpt2-tiny", "h.1")), "x", model.Info)]));
        Assert.Equal($"SAE id 'x' names 2 SAEs ({SaeTests.Fixture("gpt2-tiny", "h.0.mlp")}, {SaeTests.Fixture("gpt2-tiny", "h.1")}); expected a distinct id for each", error.Message);
    }

    [Fact]
    public void LayersMustBeThoseTheSaesRead()
    {
        using var model = Model();
        UnitSource[] units = [Latents(model, "res"), Latents(model, "sp-mlp"), Latents(model, "jr-mlp")];
        var error = Assert.Throws<SettingException>(() => new Collector(model, Settings with { Layers = [1] }, new CorpusOptions(corpus), "gpt2-tiny", units));
        Assert.Contains("names layers 1, but the sae units read layers 0 (blocks.0.hook_mlp_out), 1 (blocks.1.hook_resid_pre); expected no layers or exactly those", error.Message);
        Assert.Equal([0, 1], new Collector(model, Settings with { Layers = [1, 0] }, new CorpusOptions(corpus), "gpt2-tiny", units).Layers);
    }

    /// <summary>A one-SAE store written before several SAEs were possible: its SAE is still read, and collecting it again finds it complete.</summary>
    [Fact]
    public void AStoreOfOneSaeInTheOlderManifestStillReads()
    {
        var (store, _, _) = Collect(Settings, "res");
        using var _ = store;
        var current = store.GetManifest()!;
        var older = current.Settings.Where(s => !s.Key.StartsWith("collect.sae.", StringComparison.Ordinal)).ToDictionary();
        older["collect.sae_source"] = SaeTests.Fixture("gpt2-tiny", "relu-resid-pre");
        older["collect.sae_hook"] = "blocks.1.hook_resid_pre";
        store.PutManifest(current with { Settings = older });
        Assert.Equal([new CollectedSae("res", SaeTests.Fixture("gpt2-tiny", "relu-resid-pre"), "blocks.1.hook_resid_pre", 1)], CollectedSae.FromManifest(older));
        using var model = Model();
        Assert.True(new Collector(model, Settings, new CorpusOptions(corpus), "gpt2-tiny", [Latents(model, "res")]).Run(store, "test").AlreadyComplete);
    }

    /// <summary>Counts forward passes of the model it wraps.</summary>
    sealed class CountingModel(ITransformerModel inner) : ITransformerModel
    {
        public int ForwardCalls { get; private set; }
        public ModelInfo Info => inner.Info;
        public ITokenizer Tokenizer => inner.Tokenizer;

        public ForwardResult Forward(ReadOnlySpan<int> tokens, int batchSize, int sequenceLength, ForwardRequest request)
        {
            ForwardCalls++;
            return inner.Forward(tokens, batchSize, sequenceLength, request);
        }

        public MlpWeights GetMlpWeights(int layer) => inner.GetMlpWeights(layer);
        public (ReadOnlyMemory<float> Embedding, ReadOnlyMemory<float> Unembedding, ReadOnlyMemory<float> FinalNormGain) GetTokenMatrices() => inner.GetTokenMatrices();
        public ReadOnlyMemory<float> GetAttentionOutWeights(int layer) => inner.GetAttentionOutWeights(layer);
        public void ReleaseBuffers() => inner.ReleaseBuffers();
        public void Dispose() => inner.Dispose();
    }
}
