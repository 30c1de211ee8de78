using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// Attention heads' activations (the norm of each head's write into the residual stream) and their attended tokens,
/// computed as collection computes them from the engine's hooks, against make_head_fixtures.py's float64 PyTorch
/// reference at 1e-4: a tiny GPT-2, a tiny Llama with grouped KV heads (BOS as context) and stories260K.
/// </summary>
public class HeadParityTests
{
    [Theory]
    [InlineData("gpt2-tiny")]
    [InlineData("llama-tiny")]
    public void TinyModelsMatchReference(string model) => MatchesReference(model);

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void Stories260KMatchesReference() => MatchesReference("stories260K");

    static void MatchesReference(string model)
    {
        bool stories = model == "stories260K";
        var weights = ModelLoader.LoadWeights(stories ? EngineFixtures.Stories260K : EngineFixtures.Path(model));
        using var transformer = new Transformer(model, weights, new IdTokenizer(weights.Config.VocabSize), new ManagedGemm());
        string prefix = stories ? "stories260K-" : model + "/";
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path(prefix + "tokens.json"), EngineFixtures.Path(prefix + "expected.safetensors"));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(EngineFixtures.Path($"heads-{model}.json")));
        int offset = expected.RootElement.GetProperty("offset").GetInt32();
        int heads = weights.Config.HeadCount, seq = reference.Seq, length = seq - offset;
        if (model == "llama-tiny") Assert.True(weights.Config.KvHeadCount < heads, "llama-tiny should group its KV heads");

        var units = UnitSource.AttentionHeads(transformer, new ManagedGemm());
        var layers = expected.RootElement.GetProperty("layers").EnumerateObject().ToList();
        Assert.Equal(weights.Config.LayerCount, layers.Count);
        var result = transformer.Forward(reference.Tokens, reference.Batch, seq,
            new ForwardRequest([.. layers.SelectMany(l => new[] { units.Hook(int.Parse(l.Name)), ForwardRequest.AttnPattern(int.Parse(l.Name)) })]));
        int compared = 0;
        foreach (var layer in layers)
        {
            int l = int.Parse(layer.Name);
            var activations = units.Read(result, l, reference.Batch * seq).ToArray();
            var pattern = result.Hook(ForwardRequest.AttnPattern(l));
            var wantActivations = layer.Value.GetProperty("activations");
            var wantAttended = layer.Value.GetProperty("attended");
            for (int b = 0; b < reference.Batch; b++)
                for (int h = 0; h < heads; h++)
                {
                    var want = wantActivations[b][h].EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
                    var got = Enumerable.Range(0, length).Select(t => activations[(b * seq + offset + t) * heads + h]).ToArray();
                    EngineFixtures.AssertClose(want, got, $"{model} head {l}/{h} window {b} activations");

                    var positions = new int[length * AttentionSources.Count];
                    var sourceWeights = new float[positions.Length];
                    AttentionSources.Top(pattern.Slice((b * heads + h) * seq * seq, seq * seq), seq, offset, length, positions, sourceWeights);
                    var attended = AttentionSources.ToLists(positions, sourceWeights, length);
                    for (int t = 0; t < length; t++)
                    {
                        var sources = wantAttended[b][h][t].EnumerateArray().Select(p => (Position: p[0].GetInt32(), Weight: p[1].GetDouble())).ToArray();
                        Assert.Equal(sources.Select(s => s.Position), attended[t].Select(s => s.Position));
                        for (int j = 0; j < sources.Length; j++)
                            Assert.True(Math.Abs(sources[j].Weight - attended[t][j].Weight) <= 1e-4 * Math.Max(1, sources[j].Weight),
                                $"{model} head {l}/{h} window {b} token {t} source {j}: expected {sources[j].Weight}, got {attended[t][j].Weight}");
                        compared++;
                    }
                }
        }
        Assert.Equal(weights.Config.LayerCount * reference.Batch * heads * length, compared);
    }
}
