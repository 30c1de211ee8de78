using System.Text;
using System.Text.Json.Nodes;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Checkpoints;

namespace NeuronExplainer.Tests.Engine;

/// <summary>Truncated, corrupt or inconsistent checkpoints fail with one clear error naming the file and tensor or value.</summary>
public sealed class LoaderErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-loader-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static NeuronExplainerException Fails(Action action) => Assert.Throws<NeuronExplainerException>(action);

    private string WriteSafetensors(string header, int dataBytes, string name = "x.safetensors")
    {
        var path = Path.Combine(_dir, name);
        var headerBytes = Encoding.UTF8.GetBytes(header);
        using var file = File.Create(path);
        file.Write(BitConverter.GetBytes((long)headerBytes.Length));
        file.Write(headerBytes);
        file.Write(new byte[dataBytes]);
        return path;
    }

    /// <summary>A copy of a committed fixture model that a test may edit.</summary>
    private string CopyFixture(string model)
    {
        var target = Path.Combine(_dir, model);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(EngineFixtures.Path(model)))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    private static void EditJson(string path, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    [Fact]
    public void HeaderLengthBeyondFile()
    {
        var path = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(5000L), .. "{}"u8]);
        var e = Fails(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("header length 5000", e.Message);
    }

    [Fact]
    public void FileShorterThanHeaderLengthField()
    {
        var path = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Contains("too short", Fails(() => SafeTensorsFile.Open(path)).Message);
    }

    [Fact]
    public void NotASafetensorsFile()
    {
        var path = Path.Combine(_dir, "model.safetensors");
        File.WriteAllText(path, "this is a text file, not a checkpoint");
        Assert.Contains("header length", Fails(() => SafeTensorsFile.Open(path)).Message);
    }

    [Fact]
    public void HeaderIsNotJson()
    {
        var path = WriteSafetensors("{\"a\": [", 0);
        Assert.Contains("not valid JSON", Fails(() => SafeTensorsFile.Open(path)).Message);
    }

    [Fact]
    public void TensorOffsetsOutOfRange()
    {
        var path = WriteSafetensors("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", dataBytes: 8);
        var e = Fails(() => SafeTensorsFile.Open(path));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("outside the 8-byte data section", e.Message);
    }

    [Fact]
    public void OffsetsDisagreeWithShape()
    {
        var path = WriteSafetensors("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", dataBytes: 16);
        Assert.Contains("expected 12", Fails(() => SafeTensorsFile.Open(path)).Message);
    }

    [Fact]
    public void UnknownDtype()
    {
        var path = WriteSafetensors("""{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}""", dataBytes: 2);
        var e = Fails(() => SafeTensorsFile.Open(path));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("unknown dtype 'Q4'", e.Message);
    }

    [Fact]
    public void IntegerTensorCannotBeReadAsWeights()
    {
        var path = WriteSafetensors("""{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}""", dataBytes: 8);
        using var file = SafeTensorsFile.Open(path);
        Assert.Contains("dtype I32; expected F32, F16 or BF16", Fails(() => file.ReadFloat32("w")).Message);
    }

    [Fact]
    public void TensorShapeDisagreesWithConfig()
    {
        var model = CopyFixture("gpt2-tiny");
        EditJson(Path.Combine(model, "config.json"), c => c["n_inner"] = 100);
        var e = Fails(() => ModelLoader.LoadWeights(model));
        Assert.Contains("tensor 'h.0.mlp.c_fc.weight' has shape [32, 128]; config.json implies [32, 100]", e.Message);
    }

    [Fact]
    public void UnknownArchitecture()
    {
        var model = CopyFixture("gpt2-tiny");
        EditJson(Path.Combine(model, "config.json"), c => c["architectures"] = new JsonArray("BertForMaskedLM"));
        var e = Fails(() => ModelLoader.LoadWeights(model));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("architecture 'BertForMaskedLM' is not supported", e.Message);
    }

    [Fact]
    public void UnsupportedActivation()
    {
        var model = CopyFixture("gpt2-tiny");
        EditJson(Path.Combine(model, "config.json"), c => c["activation_function"] = "quick_gelu");
        Assert.Contains("activation_function: 'quick_gelu' is not supported", Fails(() => ModelLoader.LoadWeights(model)).Message);
    }

    [Fact]
    public void MissingConfigField()
    {
        var model = CopyFixture("llama-tiny");
        EditJson(Path.Combine(model, "config.json"), c => c.AsObject().Remove("hidden_size"));
        Assert.Contains("hidden_size: missing", Fails(() => ModelLoader.LoadWeights(model)).Message);
    }

    [Fact]
    public void MissingTensorInShardIndex()
    {
        var model = CopyFixture("llama-tiny");
        EditJson(Path.Combine(model, SafeTensorsCheckpoint.IndexFile), c => c["weight_map"]!.AsObject().Remove("model.layers.1.mlp.up_proj.weight"));
        var e = Fails(() => ModelLoader.LoadWeights(model));
        Assert.Contains("tensor 'model.layers.1.mlp.up_proj.weight' is missing", e.Message);
    }

    [Fact]
    public void ShardIndexPointsAtWrongShard()
    {
        var model = CopyFixture("llama-tiny");
        var index = Path.Combine(model, SafeTensorsCheckpoint.IndexFile);
        EditJson(index, c =>
        {
            var map = c["weight_map"]!.AsObject();
            var shard = map["model.norm.weight"]!.GetValue<string>();
            map["model.norm.weight"] = shard.Contains("00001-") ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
        });
        Assert.Contains("has no such tensor", Fails(() => ModelLoader.LoadWeights(model)).Message);
    }

    [Fact]
    public void NoWeightsInDirectory()
    {
        var model = CopyFixture("gpt2-tiny");
        File.Delete(Path.Combine(model, "model.safetensors"));
        Assert.Contains("no model.safetensors or model.safetensors.index.json", Fails(() => ModelLoader.LoadWeights(model)).Message);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void TruncatedLlama2cCheckpoint()
    {
        var path = Path.Combine(_dir, "cut.bin");
        File.WriteAllBytes(path, File.ReadAllBytes(EngineFixtures.Stories260K)[..100_000]);
        var e = Fails(() => ModelLoader.LoadWeights(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("file is 100000 bytes but its header", e.Message);
    }

    [Fact]
    public void Llama2cNewerExportFormat()
    {
        var path = Path.Combine(_dir, "v1.bin");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(0x616b3432), .. new byte[256]]);
        Assert.Contains("version 1/2 export", Fails(() => ModelLoader.LoadWeights(path)).Message);
    }

    [Fact]
    public void Llama2cNonsenseHeader()
    {
        var path = Path.Combine(_dir, "junk.bin");
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("this is not a checkpoint at all, just some text"));
        Assert.Contains("is not a llama2.c v0 checkpoint", Fails(() => ModelLoader.LoadWeights(path)).Message);
    }

    [Fact]
    public void NotAModelPath()
    {
        Assert.Contains("no such model file or directory", Fails(() => ModelLoader.LoadWeights(Path.Combine(_dir, "nothing-here"))).Message);
        var text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "hi");
        Assert.Contains("not a model", Fails(() => ModelLoader.LoadWeights(text)).Message);
    }

    [Fact]
    public void LayerOutOfRangeAndBadTokens()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using var model = new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        Assert.Contains("layer 7 is out of range; the model has 2 layers (0-1)",
            Fails(() => model.Forward([1, 2], 1, 2, new ForwardRequest([ForwardRequest.MlpPost(7)]))).Message);
        Assert.Contains("unknown hook 'blocks.0.mlp.hook_pre'", Fails(() => model.Forward([1, 2], 1, 2, new ForwardRequest(["blocks.0.mlp.hook_pre"]))).Message);
        Assert.Contains("layer 2 is out of range", Fails(() => model.GetMlpWeights(2)).Message);
        Assert.Contains("token id 50 at position 1 is outside the vocabulary (0-49)",
            Fails(() => model.Forward([1, 50], 1, 2, new ForwardRequest([ForwardRequest.MlpPost(0)]))).Message);
        Assert.Contains("exceeds the model's context of 16",
            Fails(() => model.Forward(new int[17], 1, 17, new ForwardRequest([ForwardRequest.MlpPost(0)]))).Message);
    }
}
