using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Models;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// Neuron ablation through the writable <c>blocks.L.mlp.hook_post</c> hook against make_ablation_fixtures.py's float64
/// PyTorch reference (written from the definitions): loss changes under zero and mean ablation, the direct logit
/// effect, and the most promoted and suppressed tokens, within 1e-4.
/// </summary>
public class AblationParityTests
{
    const double Tolerance = 1e-4;

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Theory]
    [InlineData("gpt2-tiny")]
    [InlineData("stories260K")]
    public void Ablation_effects_match_the_reference(string model)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(EngineFixtures.Path($"ablation-{model}.json")));
        var r = json.RootElement;
        var weights = ModelLoader.LoadWeights(model == "stories260K" ? EngineFixtures.Stories260K : EngineFixtures.Path(model));
        using var transformer = new Transformer(model, weights, new IdTokenizer(weights.Config.VocabSize));
        int[][] windows = [.. r.GetProperty("windows").EnumerateArray().Select(w => w.EnumerateArray().Select(t => t.GetInt32()).ToArray())];
        int offset = r.GetProperty("offset").GetInt32();
        // The excerpts as a record holds them: without the BOS position, with the reference's activations.
        var excerpts = windows.Zip(r.GetProperty("activations").EnumerateArray(), (w, a) =>
            new ActivationRecord([.. w.Skip(offset).Select(t => $"<{t}>")], [.. a.EnumerateArray().Select(x => x.GetDouble())])).ToList();
        var id = new NeuronId(r.GetProperty("layer").GetInt32(), r.GetProperty("neuron").GetInt32());
        var record = new NeuronRecord(id, [], null, null, r.GetProperty("mean").GetDouble(), null, null, null, excerpts);

        var effect = NeuronAblation.Measure(transformer, record, excerpts, windows, CancellationToken.None);

        Assert.Null(effect.Problem);
        Assert.Equal(r.GetProperty("predictions").GetInt32(), effect.Predictions);
        Assert.Equal(r.GetProperty("firing_positions").GetInt32(), effect.FiringPositions);
        Close(r.GetProperty("loss_change_zero").GetDouble(), effect.ZeroLossChange, "loss change, zero");
        Close(r.GetProperty("loss_change_mean").GetDouble(), effect.MeanLossChange!.Value, "loss change, mean");
        Close(r.GetProperty("direct_logit_effect").GetDouble(), effect.DirectLogitEffect!.Value, "direct logit effect");
        foreach (var (key, actual) in new[] { ("promoted", effect.Promoted), ("suppressed", effect.Suppressed) })
        {
            var expected = r.GetProperty(key).EnumerateArray().Select(p => (Id: p[0].GetInt32(), Change: p[1].GetDouble())).ToList();
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
                Close(expected[i].Change, actual[i].Change, $"{key} {i}");
            // Ids agree except where two changes tie within the tolerance.
            Assert.Equal(expected.Take(3).Select(e => e.Id), actual.Take(3).Select(a => a.Id));
        }
    }

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected}, got {actual}");

    [Fact]
    public void Activations_that_do_not_match_the_stored_ones_fail_the_measurement_instead_of_scoring()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using var transformer = new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        int[] window = [3, 17, 8, 41];
        var excerpt = new ActivationRecord([.. window.Select(t => $"<{t}>")], [1, 2, 3, 4]);
        var record = new NeuronRecord(new NeuronId(0, 5), [], null, null, 0, null, null, null, [excerpt]);
        var effect = NeuronAblation.Measure(transformer, record, [excerpt], [window], CancellationToken.None);
        Assert.Contains("differ from the stored ones", effect.Problem);
    }

    [Fact]
    public void A_patch_of_mlp_post_changes_what_flows_on()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        using var transformer = new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize));
        int[] window = [3, 17, 8, 41];
        var clean = transformer.Forward(window, 1, 4, new ForwardRequest([ForwardRequest.MlpPost(1)], Logits: true)).Logits!.Value.ToArray();
        var patch = new HookPatch(ForwardRequest.MlpPost(0), (values, batch, seq, width) => values[..width].Clear());
        var patched = transformer.Forward(window, 1, 4, new ForwardRequest([ForwardRequest.MlpPost(0)], Logits: true, Patches: [patch]));
        Assert.All(patched.Hook(ForwardRequest.MlpPost(0))[..(4 * weights.Config.MlpDim / 4)].ToArray(), v => Assert.Equal(0, v));
        Assert.NotEqual(clean, patched.Logits!.Value.ToArray());
        // No patch: the same pass as before.
        Assert.Equal(clean, transformer.Forward(window, 1, 4, new ForwardRequest([], Logits: true)).Logits!.Value.ToArray());
    }
}
