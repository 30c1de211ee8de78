using System.Text.Json;
using NeuronExplainer.Cli;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Hub;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Engine;

public class EngineCommandTests
{
    [Fact]
    [Trait(TestCategory.Name, TestCategory.Slow)]
    public void The_tokenizer_option_serves_a_llama2c_bin_without_a_tokenizer_beside_it()
    {
        using var temp = new Storage.TempDirectory();
        string alone = temp.Sub("stories260K.bin");
        File.Copy(EngineFixtures.Stories260K, alone);
        var (refused, _, why) = Run("activations", "--model", alone, "--text", "Lily");
        Assert.Equal(CliApp.Failure, refused);
        Assert.Contains("--tokenizer", why);

        string tokenizer = Path.Combine(Path.GetDirectoryName(EngineFixtures.Stories260K)!, "tok512.bin");
        var (code, output, error) = Run("activations", "--model", alone, "--tokenizer", tokenizer, "--text", "Lily saw a dog.", "--json");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        using var model = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        Assert.Equal(model.Tokenizer.Encode("Lily saw a dog."), json.RootElement.GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32()));
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void ActivationsWithBf16WeightsSayTheirPathAndEqualADirectBf16Pass()
    {
        var (code, output, error) = Run("activations", "--model", EngineFixtures.Stories260K, "--text", "Lily saw a big dog.", "--layer", "4", "--json", "--dtype", "bf16");
        Assert.True(code == 0, error);
        Assert.Contains("note: bf16 weights", error);
        Assert.Contains(Models.Kernels.BFloat16.CpuHasAvx512Bf16 ? "has AVX-512 BF16" : "lacks AVX-512 BF16", error);
        using var json = JsonDocument.Parse(output);
        var values = json.RootElement.GetProperty("layers")[0].GetProperty("activations").EnumerateArray().SelectMany(row => row.EnumerateArray().Select(v => v.GetSingle())).ToArray();

        using var half = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K", dtype: WeightDType.BFloat16);
        using var single = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        int[] window = [1, .. json.RootElement.GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32())];
        float[] Direct(Transformer model) => model.Forward(window, 1, window.Length, new ForwardRequest([ForwardRequest.MlpPost(4)])).Hook(ForwardRequest.MlpPost(4))[172..].ToArray();
        EngineFixtures.AssertClose(Direct(half), values, "activations --dtype bf16", tolerance: 1e-6f);
        Assert.NotEqual(Direct(single), values);

        var (refused, _, why) = Run("activations", "--model", EngineFixtures.Stories260K, "--text", "Lily", "--dtype", "fp16");
        Assert.Equal(CliApp.Failure, refused);
        Assert.Contains("--dtype 'fp16' is not a weight dtype; expected float32 or bf16", why);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void ActivationsJsonHasTheDocumentedShapeAndValues()
    {
        var (code, output, error) = Run("activations", "--model", EngineFixtures.Stories260K, "--text", "Lily saw a big dog.", "--layer", "1", "--layer", "4", "--json");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(EngineFixtures.Stories260K, root.GetProperty("model").GetString());
        var ids = root.GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        var tokens = root.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToArray();

        using var model = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        Assert.Equal(model.Tokenizer.Encode("Lily saw a big dog."), ids); // BOS excluded
        Assert.Equal(ids.Select(model.Tokenizer.TokenString), tokens);

        var layers = root.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal([1, 4], layers.Select(l => l.GetProperty("layer").GetInt32()));
        Assert.Equal("blocks.4.mlp.hook_post", layers[1].GetProperty("hook").GetString());
        var activations = layers[1].GetProperty("activations").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        Assert.Equal(ids.Length, activations.Length);
        Assert.All(activations, row => Assert.Equal(172, row.Length));

        // Same numbers as a direct forward pass over BOS + tokens, without the BOS row.
        int[] window = [1, .. ids];
        var direct = model.Forward(window, 1, window.Length, new ForwardRequest([ForwardRequest.MlpPost(4)])).Hook(ForwardRequest.MlpPost(4));
        EngineFixtures.AssertClose(direct[172..], activations.SelectMany(r => r).ToArray(), "activations --json", tolerance: 1e-6f);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void ActivationsTableListsTokens()
    {
        var (code, output, _) = Run("activations", "--model", EngineFixtures.Stories260K, "--text", "Lily saw a big dog.", "--layer", "0", "--top", "2");
        Assert.Equal(0, code);
        Assert.Contains("blocks.0.mlp.hook_post", output);
        Assert.Contains("\" Lily\"", output);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void ActivationsLayerOutOfRangeIsAClearFailure()
    {
        var (code, _, error) = Run("activations", "--model", EngineFixtures.Stories260K, "--text", "hi", "--layer", "5");
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("--layer 5 is out of range; the model has 5 layers (0-4)", error);
    }

    [Fact]
    public void MissingModelIsAClearFailure()
    {
        var (code, _, error) = Run("generate", "--model", "/nonexistent/model.bin");
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("/nonexistent/model.bin", error);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void GenerateFromBosTellsTheLilyStory()
    {
        var (code, output, error) = Run("generate", "--model", EngineFixtures.Stories260K, "--max-tokens", "20");
        Assert.True(code == 0, error);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", output);
        Assert.Contains("tokens/s", error);
    }
}
