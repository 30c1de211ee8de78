using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Models.Sae;
using NeuronExplainer.Tests.Engine;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// Collecting SAE latents as units on stories260K over a slice of TinyStories, checked by brute force: every window
/// run alone and encoded gives each latent's density, its top windows and the quietness of its random ones.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class SaeCollectionTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    static readonly CollectionSettings Settings = new() { SequenceLength = 32, TopK = 6, RandomSamples = 6, Quantiles = 3, PerQuantile = 2, Seed = 9, BatchWindows = 8, TokenTableSize = 12 };

    [Theory]
    [InlineData("layers.4")]
    [InlineData("jumprelu-hook-z")]
    public void LatentsAreCollectedWithDensityAndQuietRandomExcerpts(string name)
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(60));
        using var model = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        var sae = SaeLoader.Load(SaeTests.Fixture("stories260K", name));
        var units = UnitSource.SaeLatents(sae, "test-sae", model.Info);
        using var store = NeuronExplainer.Storage.SqliteNeuronStore.Open(temp.Sub("store"));
        var collector = new Collector(model, Settings, new CorpusOptions(corpus), "stories260K", units);
        var summary = collector.Run(store, "test");
        int layer = HookPoint.Parse(sae.Config.Hook, model.Info.LayerCount).Layer;
        Assert.Equal([layer], collector.Layers);
        Assert.Equal(sae.Config.LatentCount, summary.Neurons);
        Assert.Equal("test-sae", store.GetManifest()!.Settings["collect.sae"]);
        Assert.Equal(sae.Config.Hook, store.GetManifest()!.Settings["collect.sae.test-sae.hook"]);

        // Brute force: every window of the corpus alone (BOS first), encoded.
        var windows = CorpusCensus.Read(new CorpusReader(new CorpusOptions(corpus)), model.Tokenizer, Settings, 0, 0, _ => { })
            .SelectMany(d => d.Windows).ToList();
        var latents = windows.Select(w => Encode(model, sae, w)).ToList();
        long tokens = windows.Sum(w => w.Length);
        Assert.Equal(tokens, summary.Tokens);

        var ids = store.ListNeurons();
        Assert.Equal(sae.Config.LatentCount, ids.Count);
        Assert.All(ids, id => Assert.Equal((UnitKind.SaeLatent, "test-sae", layer), (id.Kind, id.Sae, id.LayerIndex)));
        int quietChecked = 0;
        for (int i = 0; i < sae.Config.LatentCount; i++)
        {
            var record = store.GetNeuronRecord(units.Id(layer, i))!;
            Assert.Equal(UnitKind.SaeLatent, record.NeuronId.Kind);
            long fired = latents.Sum(l => (long)Column(l, i, sae.Config.LatentCount).Count(v => v > 0));
            // A window run alone rounds differently from the same window in a batch; JumpReLU and TopK are discontinuous,
            // so a pre-activation within rounding of its threshold may flip: allow two such tokens per latent.
            Assert.InRange(record.Density!.Value * tokens, fired - 2.001, fired + 2.001);

            // The top windows are the ones with the highest max (ties broken by window order, which checks the values).
            var best = latents.Select((l, w) => Column(l, i, sae.Config.LatentCount).Max()).OrderDescending().Take(Settings.TopK).ToArray();
            var got = record.MostPositiveActivationRecords.Select(r => r.MaxActivation).ToArray();
            Assert.Equal(best.Length, got.Length);
            for (int k = 0; k < best.Length; k++) Assert.True(Math.Abs(best[k] - got[k]) <= 1e-4 * Math.Max(1, Math.Abs(best[k])), $"latent {i} top {k}: {got[k]} vs {best[k]}");

            // Random excerpts: only windows where the latent never fires, at most --random of them, no window twice.
            Assert.InRange(record.RandomSample.Count, 0, Settings.RandomSamples);
            Assert.All(record.RandomSample, r => Assert.All(r.Activations, a => Assert.Equal(0, a)));
            Assert.Equal(record.RandomSample.Count, record.RandomSample.Select(r => string.Join("\u0001", r.Tokens)).Distinct().Count());
            if (record.RandomSample.Count > 0) quietChecked++;
        }
        // The TopK SAE is sparse (k 10 of 160), so most latents are quiet somewhere among the shared windows; the
        // JumpReLU one fires on about a quarter of all tokens, so many of its latents fire in every window.
        if (sae.Config.Activation == SaeActivation.TopK) Assert.True(quietChecked > sae.Config.LatentCount / 2, $"only {quietChecked} latents had quiet random excerpts");
        Assert.NotEmpty(store.GetActivationBasedTokens(units.Id(layer, 0))!.Tokens);

        var tokenWeights = store.GetWeightBasedTokens(units.Id(layer, 3));
        if (HookPoint.Parse(sae.Config.Hook, model.Info.LayerCount).Kind == HookKind.AttnZ)
        {
            // A hook_z SAE decodes into head space: no output tokens, though stories260K's heads x d_head is d_model.
            Assert.Equal(model.Info.ModelDim, sae.Config.InputDim);
            Assert.Null(tokenWeights);
            return;
        }
        // Output tokens of latent 3: its decoder row times the final norm gain, against every unembedding row.
        var (_, unembedding, gain) = model.GetTokenMatrices();
        var direction = sae.ReadDecoder().AsSpan(3 * sae.Config.InputDim, sae.Config.InputDim).ToArray();
        var scores = Enumerable.Range(0, model.Info.VocabSize).Select(t =>
            Enumerable.Range(0, sae.Config.InputDim).Sum(j => (double)direction[j] * gain.Span[j] * unembedding.Span[t * sae.Config.InputDim + j])).ToArray();
        var expectedTop = Enumerable.Range(0, scores.Length).OrderByDescending(t => scores[t]).First();
        Assert.Equal(Settings.TokenTableSize, tokenWeights!.OutputPositive.Tokens.Count);
        Assert.Equal(model.Tokenizer.TokenString(expectedTop), tokenWeights.OutputPositive.Tokens[0]);
        Assert.Equal(scores[expectedTop], tokenWeights.OutputPositive.Strengths[0], 1e-4);
        Assert.Empty(tokenWeights.InputPositive.Tokens);
    }

    static float[] Encode(ITransformerModel model, SparseAutoencoder sae, int[] window)
    {
        var input = new[] { model.Tokenizer.BosId!.Value }.Concat(window).ToArray();
        var hook = model.Forward(input, 1, input.Length, new ForwardRequest([sae.Config.Hook])).Hook(sae.Config.Hook);
        var all = new float[input.Length * sae.Config.LatentCount];
        sae.Encode(hook, input.Length, all, new float[input.Length * sae.Config.InputDim], NeuronExplainer.Models.Kernels.GemmBackends.Default);
        return all[sae.Config.LatentCount..];
    }

    static IEnumerable<float> Column(float[] rows, int i, int width)
    {
        for (int r = i; r < rows.Length; r += width) yield return rows[r];
    }

    [Fact]
    public void LayersOtherThanTheSaesAreRefused()
    {
        using var model = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        var units = UnitSource.SaeLatents(SaeLoader.Load(SaeTests.Fixture("stories260K", "layers.4")), "s", model.Info);
        var error = Assert.Throws<SettingException>(() => new Collector(model, Settings with { Layers = [2] }, new CorpusOptions(temp.Sub("c.txt")), "m", units));
        Assert.Contains("names layers 2, but the sae units read layer 4 (blocks.4.hook_resid_post)", error.Message);
    }
}

/// <summary><c>collect --sae</c> through the CLI: the value's id and location, and a refusal before any work.</summary>
public sealed class SaeCollectCommandTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData("res-jb-8=jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre", "res-jb-8", "jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre")]
    [InlineData("EleutherAI/sae-llama-3-8b-32x/layers.8@main", "layers.8", "EleutherAI/sae-llama-3-8b-32x/layers.8@main")]
    [InlineData("/data/saes/my sae/", "my-sae", "/data/saes/my sae/")]
    public void SaeArgumentsNameTheIdAndTheLocation(string value, string id, string location) =>
        Assert.Equal((id, location), NeuronExplainer.Cli.Commands.CollectCommand.SaeArgument(value));

    [Fact]
    public void BadIdBeforeEqualsIsRefused() =>
        Assert.Contains("the id 'a b' before '='", Assert.Throws<NeuronExplainerException>(() => NeuronExplainer.Cli.Commands.CollectCommand.SaeArgument("a b=x/y/z")).Message);

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void AnSaeOfAnotherWidthIsRefusedBeforeTheStoreIsWritten()
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(20));
        var sae = SaeTests.Fixture("gpt2-tiny", "relu-resid-pre");
        var store = temp.Sub("store");
        var (code, _, err) = CliRunner.Run(["collect", "--model", EngineFixtures.Stories260K, "--corpus", corpus, "--store", store, "--sae", sae]);
        Assert.Equal(1, code);
        Assert.Contains($"error: --sae '{sae}': {Path.Combine(sae, "cfg.json")}: field 'd_in' is 32 but {EngineFixtures.Stories260K}'s hook blocks.1.hook_resid_pre is 64 wide", err);
        Assert.False(Directory.Exists(store) && Directory.EnumerateFileSystemEntries(store).Any(), "the store was written");
    }

    [Fact]
    public void TwoSaeValuesOfOneIdAreRefusedNamingBothBeforeTheModelLoads()
    {
        string one = SaeTests.Fixture("gpt2-tiny", "h.1"), other = Path.Combine(temp.Sub("elsewhere"), "h.1");
        var (code, _, err) = CliRunner.Run(["collect", "--model", temp.Sub("no-model"), "--corpus", temp.Sub("c.txt"), "--store", temp.Sub("store"), "--sae", one, "--sae", other]);
        Assert.Equal(1, code);
        Assert.Contains($"--sae '{one}' and --sae '{other}' both name SAE id 'h.1'; a store's SAEs need distinct ids, so name one of them with ID=PATH_OR_HUB_ID", err);
        Assert.False(Directory.Exists(temp.Sub("store")), "the store was made");
    }

    /// <summary>Of two SAEs, the one whose hook the model lacks is named by its --sae value, and nothing is written.</summary>
    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void AnSaeOfAHookTheModelLacksIsNamedByItsValue()
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(20));
        string bad = temp.Sub("deep");
        Directory.CreateDirectory(bad);
        foreach (var file in Directory.GetFiles(SaeTests.Fixture("stories260K", "relu-resid-pre")))
            File.Copy(file, Path.Combine(bad, Path.GetFileName(file)));
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(bad, "cfg.json")))!;
        cfg["metadata"]!["hook_name"] = "blocks.9.hook_resid_pre";
        File.WriteAllText(Path.Combine(bad, "cfg.json"), cfg.ToJsonString());
        var store = temp.Sub("store");
        var (code, _, err) = CliRunner.Run(["collect", "--model", EngineFixtures.Stories260K, "--corpus", corpus, "--store", store,
            "--sae", "s4=" + SaeTests.Fixture("stories260K", "layers.4"), "--sae", "deep=" + bad]);
        Assert.Equal(1, code);
        Assert.Contains($"error: --sae 'deep={bad}': {Path.Combine(bad, "cfg.json")}", err);
        Assert.Contains("'blocks.9.hook_resid_pre' is not a hook of", err);
        Assert.False(Directory.Exists(store) && Directory.EnumerateFileSystemEntries(store).Any(), "the store was written");
    }

    /// <summary>
    /// run with two SAEs of both layouts into one store (sparsify's layers.4 at blocks.4.hook_resid_post, SAELens's
    /// TopK SAE at blocks.1.hook_attn_out): both SAEs' latents are explained and scored (ablation finding each latent's
    /// SAE by its id), shown by the viewer's API and show, and exported and imported.
    /// </summary>
    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public async Task LatentsOfTwoSaesInOneStoreAreExplainedScoredShownAndExported()
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(300));
        string store = temp.Sub("run");
        var run = CliRunner.Run(["run", "--model", EngineFixtures.Stories260K, "--corpus", corpus, "--store", store,
            "--sae", "s4=" + SaeTests.Fixture("stories260K", "layers.4"), "--sae", "ta1=" + SaeTests.Fixture("stories260K", "topk-attn-out"),
            "--neurons", "0-5", "--control", "shuffled", "--scorers", "simulation,detection,fuzzing,ablation"]);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("latents of SAEs s4 at blocks.4.hook_resid_post, ta1 at blocks.1.hook_attn_out", run.Out);
        using (var opened = NeuronExplainer.Storage.SqliteNeuronStore.OpenExisting(store, NeuronExplainer.Storage.StoreAccess.ReadOnly))
        {
            Assert.Equal(160 + 100, opened.ListNeurons().Count);
            var done = opened.ListMethodScores().Where(r => r.Control == NeuronExplainer.Explanations.ControlKind.None).ToList();
            foreach (var (sae, layer) in new[] { ("s4", 4), ("ta1", 1) })
            {
                var mine = done.Where(r => r.Neuron.Sae == sae).ToList();
                Assert.All(mine, r => Assert.Equal(layer, r.Neuron.LayerIndex));
                Assert.Contains(mine, r => r.Score.Method == "simulation-correlation" && r.Score.Value is not null);
                Assert.Contains(mine, r => r.Score.Method == "detection" && r.Score.Value is not null);
                var ablation = mine.Where(r => r.Score.Method == NeuronExplainer.Explanations.AblationScorer.Name).ToList();
                Assert.NotEmpty(ablation);
                Assert.All(ablation, r => Assert.False(r.Score.Failed, r.Score.UndefinedReason));
            }
            Assert.Contains(opened.ListMethodScores(), r => r.Control == NeuronExplainer.Explanations.ControlKind.Shuffled && r.Neuron.Sae == "ta1");

            var app = NeuronExplainer.Cli.Viewer.ViewerApp.Build(opened, NeuronExplainer.Cli.Viewer.ViewerOptions.Default, b => b.WebHost.UseTestServer());
            await app.StartAsync();
            try
            {
                using var client = app.GetTestClient();
                foreach (var (unit, layer) in new[] { ("sae:s4/0", 4), ("sae%3Ata1%2F0", 1) })
                {
                    var body = await client.GetStringAsync($"/api/units/{unit}");
                    var view = System.Text.Json.JsonDocument.Parse(body).RootElement;
                    var id = NeuronId.Parse(Uri.UnescapeDataString(unit));
                    Assert.Equal(("sae", id.ToString(), layer), (view.GetProperty("kind").GetString(), view.GetProperty("unit").GetString(), view.GetProperty("layer").GetInt32()));
                    Assert.Equal(opened.GetNeuronRecord(id)!.Density, view.GetProperty("density").GetDouble());
                    // Each SAE's decoder directions through the unembedding: its own latent 0's output tokens.
                    Assert.Equal(opened.GetWeightBasedTokens(id)!.OutputPositive.Tokens,
                        view.GetProperty("weight_based_tokens").GetProperty("output_positive").GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
                    Assert.NotEmpty(view.GetProperty("explanations").EnumerateArray());
                }
            }
            finally
            {
                await app.DisposeAsync();
            }
            Assert.NotEqual(opened.GetWeightBasedTokens(NeuronId.Latent("s4", 4, 0))!.OutputPositive.Tokens, opened.GetWeightBasedTokens(NeuronId.Latent("ta1", 1, 0))!.OutputPositive.Tokens);

            var exported = temp.Sub("export");
            Assert.Equal(260, NeuronExplainer.Storage.OpenAiDataset.Export(opened, exported).Neurons);
            using var imported = NeuronExplainer.Storage.SqliteNeuronStore.Open(temp.Sub("imported"));
            NeuronExplainer.Storage.OpenAiDataset.Import(exported, imported);
            foreach (var id in new[] { NeuronId.Latent("s4", 4, 3), NeuronId.Latent("ta1", 1, 3) })
                Assert.Equal(opened.GetNeuronRecord(id)!.Density, imported.GetNeuronRecord(id)!.Density);
        }
        var show = CliRunner.Run(["show", "--store", store, "--neuron", "sae:ta1/1"]);
        Assert.True(show.Code == 0, show.Err);
        Assert.Contains("sae:ta1/1", show.Out);
    }

    static string[] Collect(string store, string corpus, params string[] more) =>
        ["collect", "--model", EngineFixtures.Stories260K, "--corpus", corpus, "--store", store, "--sae", "s4=" + SaeTests.Fixture("stories260K", "layers.4"),
            "--top-k", "6", "--random", "6", "--batch", "4", "--seq-len", "32", .. more];

    /// <summary>Through the CLI into SQLite: the latents are stored as sae:s4/I, and two shards equal one worker, density and quiet samples included.</summary>
    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void TwoShardsOfAnSaeCollectionEqualOneWorker()
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(120));
        string one = temp.Sub("one"), sharded = temp.Sub("sharded");
        var single = CliRunner.Run(Collect(one, corpus));
        Assert.True(single.Code == 0, single.Err);
        Assert.Contains("160 latents of SAE s4 at blocks.4.hook_resid_post", single.Out);
        foreach (var shard in new[] { "1/2", "0/2" })
        {
            var run = CliRunner.Run(Collect(sharded, corpus, "--corpus-shard", shard));
            Assert.True(run.Code == 0, run.Err);
        }
        using var expected = NeuronExplainer.Storage.SqliteNeuronStore.OpenExisting(one, NeuronExplainer.Storage.StoreAccess.ReadOnly);
        using var actual = NeuronExplainer.Storage.SqliteNeuronStore.OpenExisting(sharded, NeuronExplainer.Storage.StoreAccess.ReadOnly);
        var units = expected.ListNeurons();
        Assert.Equal(160, units.Count);
        Assert.All(units, u => Assert.StartsWith("sae:s4/", u.ToString()));
        Assert.Equal(units, actual.ListNeurons());
        foreach (var unit in units)
        {
            NeuronRecord want = expected.GetNeuronRecord(unit)!, got = actual.GetNeuronRecord(unit)!;
            Assert.NotNull(want.Density);
            Assert.Equal(want.Density, got.Density);
            Assert.Equal(want.RandomSample.Select(r => string.Join(" ", r.Tokens)), got.RandomSample.Select(r => string.Join(" ", r.Tokens)));
            Assert.Equal(want.MostPositiveActivationRecords.Select(r => r.Activations), got.MostPositiveActivationRecords.Select(r => r.Activations));
        }
    }

    /// <summary>
    /// run --sae end to end with the offline baseline: SAE latents are explained, scored (every scorer, ablation
    /// included) and controlled; the viewer's unit view shows density and the
    /// decoder's output tokens; export and import carry the latents with their density.
    /// </summary>
    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void SaeLatentsAreExplainedScoredShownAndExported()
    {
        var corpus = temp.Sub("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(SharedData.Path("corpora", "tinystories-train-head.txt")).Take(300));
        string store = temp.Sub("run");
        var run = CliRunner.Run(["run", "--model", EngineFixtures.Stories260K, "--corpus", corpus, "--store", store, "--sae", "s4=" + SaeTests.Fixture("stories260K", "layers.4"),
            "--control", "shuffled", "--scorers", "simulation,detection,fuzzing,ablation"]);
        Assert.True(run.Code == 0, run.Err);
        var unit = NeuronId.Latent("s4", 4, 0);
        using (var opened = NeuronExplainer.Storage.SqliteNeuronStore.OpenExisting(store, NeuronExplainer.Storage.StoreAccess.ReadOnly))
        {
            var done = opened.ListMethodScores().Where(r => r.Control == NeuronExplainer.Explanations.ControlKind.None).ToList();
            Assert.NotEmpty(done);
            Assert.All(done, r => Assert.Equal(UnitKind.SaeLatent, r.Neuron.Kind));
            Assert.Contains(done, r => r.Score.Method == "detection" && r.Score.Value is not null);
            // Ablation patches the latent at blocks.4.hook_resid_post and stores scores, not failures.
            var ablation = done.Where(r => r.Score.Method == NeuronExplainer.Explanations.AblationScorer.Name).ToList();
            Assert.NotEmpty(ablation);
            Assert.All(ablation, r => Assert.False(r.Score.Failed, r.Score.UndefinedReason));
            Assert.Contains(ablation, r => r.Score.Value is double v && v != 0);
            Assert.Contains(done, r => r.Score.Method == NeuronExplainer.Explanations.AblationScorer.MeanMethod && r.Score.Value is not null);
            // Its details hold the decoder direction's direct logit effect and the tokens it moves where it fires.
            var details = opened.GetExplanationResults(ablation[0].Neuron).Where(r => r.Control == NeuronExplainer.Explanations.ControlKind.None)
                .SelectMany(r => r.Scores).Single(m => m.Method == NeuronExplainer.Explanations.AblationScorer.Name).Details;
            using (var parsed = System.Text.Json.JsonDocument.Parse(details!))
            {
                Assert.Equal(System.Text.Json.JsonValueKind.Number, parsed.RootElement.GetProperty("direct_logit_effect").ValueKind);
                Assert.NotEmpty(parsed.RootElement.GetProperty("promoted").EnumerateArray());
            }
            Assert.Contains(opened.ListMethodScores(), r => r.Control == NeuronExplainer.Explanations.ControlKind.Shuffled);

            var view = new NeuronExplainer.Cli.Viewer.ViewerQueries(opened).Neuron(NeuronId.Parse("sae:s4/0"))!;
            Assert.Equal(("sae", "sae:s4/0", 4), (view.Kind, view.Unit, view.Layer));
            Assert.Equal(opened.GetNeuronRecord(unit)!.Density, view.Density);
            Assert.InRange(view.Density!.Value, 1e-9, 1);
            Assert.Equal(50, view.WeightBasedTokens!.OutputPositive.Tokens.Count);

            var exported = temp.Sub("export");
            Assert.Equal(160, NeuronExplainer.Storage.OpenAiDataset.Export(opened, exported).Neurons);
            using var imported = NeuronExplainer.Storage.SqliteNeuronStore.Open(temp.Sub("imported"));
            NeuronExplainer.Storage.OpenAiDataset.Import(exported, imported);
            Assert.Equal(opened.GetNeuronRecord(unit)!.Density, imported.GetNeuronRecord(unit)!.Density);
        }
    }
}
