using System.Text.Json.Nodes;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Sae;
using NeuronExplainer.Tests.Hub;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// SAELens and sparsify SAEs: latents of make_sae_fixtures.py's random SAEs (every layout, activation and hook kind)
/// against its float64 PyTorch reference at 1e-4 relative, and the loader's errors for bad folders.
/// </summary>
public sealed class SaeTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("sae-tests-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static string Fixture(string model, string sae) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Sae", model, sae);

    public static TheoryData<string> Gpt2Saes() => new("relu-resid-pre", "jumprelu-mlp-out", "topk-hook-z", "old-topk-resid-post", "h.1", "h.0.mlp");

    public static TheoryData<string> StoriesSaes() => new("relu-resid-pre", "jumprelu-hook-z", "topk-attn-out", "layers.4");

    [Theory]
    [MemberData(nameof(Gpt2Saes))]
    public void Gpt2TinyLatentsMatchReference(string sae) => AssertLatentsMatch("gpt2-tiny", EngineFixtures.Path("gpt2-tiny"), "gpt2-tiny/", sae);

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Theory]
    [MemberData(nameof(StoriesSaes))]
    public void Stories260KLatentsMatchReference(string sae) => AssertLatentsMatch("stories260K", EngineFixtures.Stories260K, "stories260K-", sae);

    static void AssertLatentsMatch(string model, string modelPath, string tokensPrefix, string name)
    {
        var weights = ModelLoader.LoadWeights(modelPath);
        using var transformer = new Transformer(model, weights, new IdTokenizer(weights.Config.VocabSize));
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path(tokensPrefix + "tokens.json"), EngineFixtures.Path(tokensPrefix + "expected.safetensors"));
        using var expected = SafeTensorsFile.Open(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Sae", model + "-latents.safetensors"));

        var sae = SaeLoader.Load(Fixture(model, name));
        sae.CheckFits(transformer.Info);
        int rows = reference.Batch * reference.Seq;
        var hook = transformer.Forward(reference.Tokens, reference.Batch, reference.Seq, new ForwardRequest([sae.Config.Hook])).Hook(sae.Config.Hook);
        var latents = new float[rows * sae.Config.LatentCount];
        sae.Encode(hook, rows, latents, new float[rows * sae.Config.InputDim], GemmBackends.Default);
        var truth = expected.ReadFloat32(name);
        EngineFixtures.AssertClose(truth, latents, $"{model}/{name}");
        // Sparse layouts must agree on which latents fire, not only within tolerance.
        Assert.Equal(truth.Select(v => v > 0), latents.Select(v => v > 0));
        if (sae.Config.Activation == SaeActivation.TopK)
            for (int r = 0; r < rows; r++) Assert.True(latents.AsSpan(r * sae.Config.LatentCount, sae.Config.LatentCount).ToArray().Count(v => v != 0) <= sae.Config.K);
    }

    [Fact]
    public void ReadsEachLayoutsFields()
    {
        var old = SaeLoader.Load(Fixture("gpt2-tiny", "old-topk-resid-post"));
        Assert.Equal((SaeFormat.SaeLens, "blocks.0.hook_resid_post", SaeActivation.TopK, 4, SaeInputNorm.None, true),
            (old.Config.Format, old.Config.Hook, old.Config.Activation, old.Config.K, old.Config.InputNorm, old.SubtractsDecoderBias));
        var jump = SaeLoader.Load(Fixture("gpt2-tiny", "jumprelu-mlp-out"));
        Assert.Equal(("blocks.0.hook_mlp_out", SaeActivation.JumpRelu, SaeInputNorm.LayerNorm, false), (jump.Config.Hook, jump.Config.Activation, jump.Config.InputNorm, jump.SubtractsDecoderBias));
        var sparsify = SaeLoader.Load(Fixture("gpt2-tiny", "h.0.mlp"));
        // num_latents 0: expansion_factor 2 x d_in 32.
        Assert.Equal((SaeFormat.Sparsify, "blocks.0.hook_mlp_out", 64, 3), (sparsify.Config.Format, sparsify.Config.Hook, sparsify.Config.LatentCount, sparsify.Config.K));
        Assert.Equal(64 * 32, sparsify.ReadDecoder().Length);
    }

    [Theory]
    [InlineData("layers.8", "blocks.8.hook_resid_post")]
    [InlineData("layers_3", "blocks.3.hook_resid_post")]
    [InlineData("h.11", "blocks.11.hook_resid_post")]
    [InlineData("layers.2.mlp", "blocks.2.hook_mlp_out")]
    [InlineData("layers.2.self_attn", "blocks.2.hook_attn_out")]
    [InlineData("h.0.attn", "blocks.0.hook_attn_out")]
    [InlineData("embed_tokens", null)]
    [InlineData("layers.2.mlp.act_fn", null)]
    public void SparsifyFoldersNameOurHooks(string folder, string? hook) => Assert.Equal(hook, SaeLoader.SparsifyHook(folder));

    string Copy(string model, string sae, string? asName = null)
    {
        var target = Path.Combine(dir, asName ?? sae);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(Fixture(model, sae))) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    static void EditConfig(string folder, Action<JsonNode> edit)
    {
        var path = Path.Combine(folder, SaeLoader.ConfigFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    static string Fails(Action action) => Assert.Throws<NeuronExplainerException>(action).Message;

    static ModelInfo Gpt2Tiny()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        return new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize)).Info;
    }

    [Fact]
    public void DInThatIsNotTheHooksWidthNamesFileAndField()
    {
        var folder = Copy("gpt2-tiny", "relu-resid-pre");
        EditConfig(folder, c => c["metadata"]!["hook_name"] = "blocks.1.mlp.hook_post");
        var message = Fails(() => SaeLoader.Load(folder).CheckFits(Gpt2Tiny()));
        Assert.Contains(Path.Combine(folder, "cfg.json"), message);
        Assert.Contains("field 'd_in' is 32 but gpt2-tiny's hook blocks.1.mlp.hook_post is 128 wide", message);
    }

    [Theory]
    [InlineData("blocks.5.hook_resid_pre", "layer 5 is out of range")]
    [InlineData("hook_embed", "unknown hook 'hook_embed'")]
    [InlineData("blocks.0.attn.hook_pattern", "holds attention patterns")]
    public void HookTheModelLacksNamesFileAndField(string hook, string problem)
    {
        var folder = Copy("gpt2-tiny", "relu-resid-pre");
        EditConfig(folder, c => c["metadata"]!["hook_name"] = hook);
        var message = Fails(() => SaeLoader.Load(folder).CheckFits(Gpt2Tiny()));
        Assert.Contains($"{Path.Combine(folder, "cfg.json")}: field 'metadata.hook_name': '{hook}'", message);
        Assert.Contains(problem, message);
    }

    [Fact]
    public void UnknownArchitectureOrActivationNamesTheField()
    {
        var folder = Copy("gpt2-tiny", "relu-resid-pre");
        EditConfig(folder, c => c["architecture"] = "gated");
        Assert.Contains("cfg.json: field 'architecture' is 'gated', an architecture we do not know", Fails(() => SaeLoader.Load(folder)));

        var old = Copy("gpt2-tiny", "old-topk-resid-post");
        EditConfig(old, c => c["activation_fn_str"] = "tanh-relu");
        Assert.Contains("cfg.json: field 'activation_fn_str' is 'tanh-relu', an activation we do not know", Fails(() => SaeLoader.Load(old)));

        var sparsify = Copy("gpt2-tiny", "h.1");
        EditConfig(sparsify, c => c["activation"] = "groupmax");
        Assert.Contains("cfg.json: field 'activation' is 'groupmax'", Fails(() => SaeLoader.Load(sparsify)));
    }

    [Fact]
    public void MissingOrMisshapenTensorsNameTheFile()
    {
        var folder = Copy("gpt2-tiny", "relu-resid-pre");
        EditConfig(folder, c => c["architecture"] = "jumprelu");
        var message = Fails(() => SaeLoader.Load(folder));
        Assert.Contains($"{Path.Combine(folder, "sae_weights.safetensors")}: tensor 'threshold' is missing; expected shape [96]", message);

        var wide = Copy("gpt2-tiny", "relu-resid-pre", "wide");
        EditConfig(wide, c => c["d_sae"] = 100);
        Assert.Contains("tensor 'W_enc' has shape [32, 96]; expected [32, 100] from cfg.json", Fails(() => SaeLoader.Load(wide)));

        var noWeights = Copy("gpt2-tiny", "h.1", "layers.1");
        File.Delete(Path.Combine(noWeights, "sae.safetensors"));
        Assert.Contains("neither sae_weights.safetensors (SAELens) nor sae.safetensors (sparsify)", Fails(() => SaeLoader.Load(noWeights)));
    }

    [Fact]
    public void MissingFieldsAndUnsupportedSettingsAreRefused()
    {
        var folder = Copy("gpt2-tiny", "relu-resid-pre");
        EditConfig(folder, c => c.AsObject().Remove("d_sae"));
        Assert.Contains("field 'd_sae' is missing; expected a positive integer", Fails(() => SaeLoader.Load(folder)));

        var norm = Copy("gpt2-tiny", "relu-resid-pre", "norm");
        EditConfig(norm, c => c["normalize_activations"] = "expected_average_only_in");
        Assert.Contains("field 'normalize_activations' is 'expected_average_only_in'", Fails(() => SaeLoader.Load(norm)));

        var head = Copy("gpt2-tiny", "old-topk-resid-post");
        EditConfig(head, c => c["hook_point_head_index"] = 2);
        Assert.Contains("field 'hook_point_head_index' names one attention head", Fails(() => SaeLoader.Load(head)));

        var transcoder = Copy("gpt2-tiny", "h.1");
        EditConfig(transcoder, c => c["transcode"] = true);
        Assert.Contains("field 'transcode' is true", Fails(() => SaeLoader.Load(transcoder)));

        var unnamed = Copy("gpt2-tiny", "h.1", "encoder7");
        Assert.Contains("'encoder7' is not one we map", Fails(() => SaeLoader.Load(unnamed)));
    }

    [Fact]
    public void KeepLargestKeepsTheKLargestAndTheLowestIndicesOnTies()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            int length = random.Next(1, 300), k = random.Next(1, length + 1);
            // Few distinct values, so ties at the K-th value are common.
            var row = Enumerable.Range(0, length).Select(_ => (float)random.Next(-5, 6)).ToArray();
            var expected = row.Select((v, i) => (v, i)).OrderByDescending(p => p.v).ThenBy(p => p.i).Take(k).Select(p => p.i).ToHashSet();
            var kept = row.ToArray();
            SparseAutoencoder.KeepLargest(kept, k);
            for (int i = 0; i < length; i++) Assert.Equal(expected.Contains(i) ? row[i] : 0, kept[i]);
        }
    }

    [Fact]
    public async Task HubIdDownloadsCfgAndWeightsOnceThenWorksOffline()
    {
        await using var hub = await FakeHub.StartAsync();
        var source = Fixture("gpt2-tiny", "relu-resid-pre");
        hub.Add("someone/gpt2-tiny-saes", "blocks.1.hook_resid_pre/cfg.json", File.ReadAllBytes(Path.Combine(source, "cfg.json")));
        hub.Add("someone/gpt2-tiny-saes", "blocks.1.hook_resid_pre/sae_weights.safetensors", File.ReadAllBytes(Path.Combine(source, "sae_weights.safetensors")), lfs: true);
        hub.Add("someone/gpt2-tiny-saes", "blocks.1.hook_resid_pre/sparsity.safetensors", new byte[64], lfs: true);
        var options = new HubOptions { Endpoint = hub.Endpoint, CacheDirectory = Path.Combine(dir, "cache"), RetryDelay = TimeSpan.FromMilliseconds(10) };

        var local = await SaeLocator.LocateAsync("someone/gpt2-tiny-saes/blocks.1.hook_resid_pre", options);
        Assert.Equal(["cfg.json", "sae_weights.safetensors"], Directory.GetFiles(local).Select(Path.GetFileName).Where(n => n != HubCache.CompleteMarker).Order());
        Assert.Equal(96, SaeLoader.Load(local).Config.LatentCount);

        var offline = new HubOptions { Endpoint = hub.Endpoint, CacheDirectory = options.CacheDirectory, Offline = true };
        Assert.Equal(local, await SaeLocator.LocateAsync("someone/gpt2-tiny-saes/blocks.1.hook_resid_pre", offline));
        var missing = await Assert.ThrowsAsync<NeuronExplainerException>(() => SaeLocator.LocateAsync("someone/gpt2-tiny-saes/blocks.0.hook_resid_pre", offline));
        Assert.Contains("SAE 'someone/gpt2-tiny-saes/blocks.0.hook_resid_pre': no such file or directory", missing.Message);
        Assert.Equal(source, SaeLocator.Locate(source));
        Assert.Equal(source, SaeLocator.Locate(Path.Combine(source, "cfg.json")));
    }
}
