using NeuronExplainer.Models;
using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// Forward passes against make_fixtures.py's float64 PyTorch reference: every hook of every layer and the
/// logits, with both GEMM backends, at 1e-4 relative tolerance.
/// </summary>
public class ParityTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "gpt2-tiny", "llama-tiny", "qwen2-tiny", "stories260K" })
        {
            data.Add(model, "managed");
            if (OpenBlasGemm.TryCreate() is not null) data.Add(model, "openblas");
        }
        return data;
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Theory]
    [MemberData(nameof(Cases))]
    public void HooksAndLogitsMatchReference(string model, string backend)
    {
        var isStories = model == "stories260K";
        var weights = ModelLoader.LoadWeights(isStories ? EngineFixtures.Stories260K : EngineFixtures.Path(model));
        using var transformer = new Transformer(model, weights, new IdTokenizer(weights.Config.VocabSize), GemmBackends.Select(backend));
        var prefix = isStories ? "stories260K-" : model + "/";
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path(prefix + "tokens.json"), EngineFixtures.Path(prefix + "expected.safetensors"));

        var hooks = reference.Expected.Tensors.Keys.Where(name => name != "logits").ToList();
        Assert.NotEmpty(hooks);
        var result = transformer.Forward(reference.Tokens, reference.Batch, reference.Seq, new ForwardRequest(hooks, Logits: true));
        foreach (var hook in hooks)
            EngineFixtures.AssertClose(reference.Expected.ReadFloat32(hook), result.Hook(hook), $"{model}/{backend} {hook}");
        EngineFixtures.AssertClose(reference.Expected.ReadFloat32("logits"), result.Logits!.Value.Span, $"{model}/{backend} logits");
    }

    [Fact]
    public void StopsAfterDeepestRequestedLayerWithTheSameValues()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using var transformer = new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path("gpt2-tiny/tokens.json"), EngineFixtures.Path("gpt2-tiny/expected.safetensors"));
        var result = transformer.Forward(reference.Tokens, reference.Batch, reference.Seq, new ForwardRequest([ForwardRequest.MlpPost(0)]));
        EngineFixtures.AssertClose(reference.Expected.ReadFloat32("blocks.0.mlp.hook_post"), result.Hook("blocks.0.mlp.hook_post"), "layer 0 alone");
        Assert.Null(result.Logits);
        Assert.Throws<KeyNotFoundException>(() => result.Hook("blocks.1.mlp.hook_post"));
    }

    [Fact]
    public void BatchedWindowsEqualWindowsRunAlone()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("llama-tiny"));
        using var transformer = new Transformer("llama-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path("llama-tiny/tokens.json"), EngineFixtures.Path("llama-tiny/expected.safetensors"));
        var hook = ForwardRequest.MlpPost(1);
        var batched = transformer.Forward(reference.Tokens, reference.Batch, reference.Seq, new ForwardRequest([hook])).Hook(hook).ToArray();
        var width = weights.Config.MlpDim * reference.Seq;
        for (var w = 0; w < reference.Batch; w++)
        {
            var alone = transformer.Forward(reference.Tokens.AsSpan(w * reference.Seq, reference.Seq), 1, reference.Seq, new ForwardRequest([hook])).Hook(hook);
            EngineFixtures.AssertClose(batched.AsSpan(w * width, width), alone, $"window {w}", tolerance: 1e-5f);
        }
    }

    [Fact]
    public void MlpWeightsAreRowPerNeuronInBothLayouts()
    {
        // GPT-2's Conv1D stores c_fc [d_model, d_mlp] and c_proj [d_mlp, d_model].
        var gpt2 = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using (var model = new Transformer("gpt2-tiny", gpt2, new IdTokenizer(gpt2.Config.VocabSize)))
        using (var file = SafeTensorsFile.Open(EngineFixtures.Path("gpt2-tiny/model.safetensors")))
        {
            int d = gpt2.Config.ModelDim, mlp = gpt2.Config.MlpDim, neuron = 77;
            var weights = model.GetMlpWeights(1);
            var cFc = file.ReadFloat32("h.1.mlp.c_fc.weight");
            var cProj = file.ReadFloat32("h.1.mlp.c_proj.weight");
            Assert.Null(weights.Up);
            Assert.Equal(Enumerable.Range(0, d).Select(i => cFc[i * mlp + neuron]), weights.In.Span.Slice(neuron * d, d).ToArray());
            Assert.Equal(cProj.AsSpan(neuron * d, d).ToArray(), weights.Out.Span.Slice(neuron * d, d).ToArray());
            Assert.Equal(file.ReadFloat32("wte.weight"), model.GetTokenMatrices().Unembedding.ToArray());
        }

        // Llama's Linear layers store [out, in]: gate/up rows are neurons, down_proj columns are.
        var llama = ModelLoader.LoadWeights(EngineFixtures.Path("qwen2-tiny"));
        using (var model = new Transformer("qwen2-tiny", llama, new IdTokenizer(llama.Config.VocabSize)))
        using (var file = SafeTensorsFile.Open(EngineFixtures.Path("qwen2-tiny/model.safetensors")))
        {
            int d = llama.Config.ModelDim, mlp = llama.Config.MlpDim, neuron = 5;
            var weights = model.GetMlpWeights(0);
            var down = file.ReadFloat32("model.layers.0.mlp.down_proj.weight");
            Assert.Equal(file.ReadFloat32("model.layers.0.mlp.gate_proj.weight"), weights.In.ToArray());
            Assert.Equal(file.ReadFloat32("model.layers.0.mlp.up_proj.weight"), weights.Up!.Value.ToArray());
            Assert.Equal(Enumerable.Range(0, d).Select(i => down[i * mlp + neuron]), weights.Out.Span.Slice(neuron * d, d).ToArray());
        }
    }
}
