using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Sae;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// SAE latent ablation (x - (f_i(x) - a) · W_dec[i] at the SAE's hook) against a brute force written here: the hook
/// patched by hand, losses and logit changes recomputed in double precision, the direct logit effect through the
/// final norm by its formula; and the writable hooks' placement in the pass.
/// </summary>
public class SaeAblationTests
{
    const double Tolerance = 1e-4;

    public static TheoryData<string, string> Saes() => new()
    {
        { "gpt2-tiny", "jumprelu-mlp-out" }, { "gpt2-tiny", "relu-resid-pre" }, { "gpt2-tiny", "topk-hook-z" },
        { "stories260K", "layers.4" }, { "stories260K", "topk-attn-out" }, { "stories260K", "relu-resid-pre" },
    };

    static Transformer Load(string model)
    {
        var weights = ModelLoader.LoadWeights(model == "stories260K" ? EngineFixtures.Stories260K : EngineFixtures.Path(model));
        return new Transformer(model, weights, new IdTokenizer(weights.Config.VocabSize));
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Theory]
    [MemberData(nameof(Saes))]
    public void Latent_ablation_matches_a_brute_force(string model, string name)
    {
        using var transformer = Load(model);
        var sae = SaeLoader.Load(SaeTests.Fixture(model, name));
        var decoder = sae.ReadDecoder();
        int m = sae.Config.LatentCount, dIn = sae.Config.InputDim, vocab = transformer.Config.VocabSize;
        string hook = sae.Config.Hook;
        int layer = HookPoint.Parse(hook, transformer.Config.LayerCount).Layer;
        var random = new Random(7);
        int[][] windows = [.. Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 12).Select(_ => random.Next(vocab)).ToArray())];
        var latents = windows.Select(w => Latents(transformer, sae, w)).ToList();
        // The latent that fires most often over the windows, so that every effect is exercised.
        int latent = Enumerable.Range(0, m).MaxBy(i => latents.Sum(l => Enumerable.Range(0, l.Length / m).Count(r => l[r * m + i] > 0)));
        double[][] f = [.. latents.Select(l => Enumerable.Range(0, l.Length / m).Select(r => (double)l[r * m + latent]).ToArray())];
        Assert.True(f.Sum(a => a.Count(v => v > 0)) >= 3, $"latent {latent} of {name} fires on too few tokens for a test");
        const double mean = 0.25;
        var excerpts = windows.Zip(f, (w, a) => new ActivationRecord([.. w.Select(t => $"<{t}>")], a)).ToList();
        var record = new NeuronRecord(NeuronId.Latent("test", layer, latent), [], null, null, mean, null, null, null, excerpts);

        var effect = NeuronAblation.Measure(transformer, record, excerpts, windows, CancellationToken.None, new AblatedSae(sae, decoder));

        Assert.Null(effect.Problem);
        double zero = 0, meanChange = 0, direct = 0;
        int predictions = 0, firing = 0, directCount = 0;
        var change = new double[vocab];
        var direction = decoder.AsSpan(latent * dIn, dIn).ToArray();
        string last = ForwardRequest.ResidPost(transformer.Config.LayerCount - 1);
        for (int w = 0; w < windows.Length; w++)
        {
            var window = windows[w];
            var cleanPass = transformer.Forward(window, 1, window.Length, new ForwardRequest([last], Logits: true));
            var clean = cleanPass.Logits!.Value.ToArray();
            var final = cleanPass.Hook(last).ToArray();
            var zeroed = ByHand(transformer, window, hook, direction, f[w], 0);
            var meaned = ByHand(transformer, window, hook, direction, f[w], mean);
            for (int r = 0; r + 1 < window.Length; r++)
            {
                double c = Loss(clean, r, vocab, window[r + 1]);
                zero += Loss(zeroed, r, vocab, window[r + 1]) - c;
                meanChange += Loss(meaned, r, vocab, window[r + 1]) - c;
                predictions++;
            }
            double threshold = 0.5 * f[w].Max();
            for (int r = 0; r < window.Length; r++)
            {
                if (!(f[w][r] > 0 && f[w][r] >= threshold)) continue;
                firing++;
                for (int t = 0; t < vocab; t++) change[t] += clean[r * vocab + t] - zeroed[r * vocab + t];
                if (r + 1 < window.Length && sae.DecodesIntoResidualStream)
                {
                    direct += f[w][r] * DirectLogit(transformer, direction, final.AsSpan(r * dIn, dIn), window[r + 1]);
                    directCount++;
                }
            }
        }
        Assert.Equal(predictions, effect.Predictions);
        Assert.Equal(firing, effect.FiringPositions);
        Close(zero / predictions, effect.ZeroLossChange, "loss change, zero");
        Close(meanChange / predictions, effect.MeanLossChange!.Value, "loss change, mean");
        Assert.NotEqual(0, effect.ZeroLossChange);
        // hook_z: the decoder writes head space, not the residual stream, even where heads x d_head is d_model (gpt2-tiny: 4 x 8 = 32).
        if (!sae.DecodesIntoResidualStream) Assert.Null(effect.DirectLogitEffect);
        else Close(direct / directCount, effect.DirectLogitEffect!.Value, "direct logit effect");
        int top = Enumerable.Range(0, vocab).MaxBy(t => change[t]);
        Close(change[top] / firing, effect.Promoted[0].Change, "most promoted");
        int bottom = Enumerable.Range(0, vocab).MinBy(t => change[t]);
        Close(change[bottom] / firing, effect.Suppressed[0].Change, "most suppressed");
    }

    static float[] Latents(Transformer model, SparseAutoencoder sae, int[] window)
    {
        var values = model.Forward(window, 1, window.Length, new ForwardRequest([sae.Config.Hook])).Hook(sae.Config.Hook);
        var all = new float[window.Length * sae.Config.LatentCount];
        sae.Encode(values, window.Length, all, new float[window.Length * sae.Config.InputDim], GemmBackends.Default);
        return all;
    }

    /// <summary>Logits with x - (f - a) · d written at the hook, row by row, in double precision.</summary>
    static float[] ByHand(Transformer model, int[] window, string hook, float[] direction, double[] f, double a)
    {
        var patch = new HookPatch(hook, (values, batch, seq, width) =>
        {
            for (int r = 0; r < seq; r++)
            for (int j = 0; j < width; j++)
                values[r * width + j] = (float)(values[r * width + j] - (f[r] - a) * direction[j]);
        });
        return model.Forward(window, 1, window.Length, new ForwardRequest([], Logits: true, Patches: [patch])).Logits!.Value.ToArray();
    }

    static double Loss(float[] logits, int row, int vocab, int next)
    {
        double max = double.NegativeInfinity, sum = 0;
        for (int t = 0; t < vocab; t++) max = Math.Max(max, logits[row * vocab + t]);
        for (int t = 0; t < vocab; t++) sum += Math.Exp(logits[row * vocab + t] - max);
        return max + Math.Log(sum) - logits[row * vocab + next];
    }

    /// <summary>The direction's logit for <paramref name="token"/> through the final norm with the clean residual's scale.</summary>
    static double DirectLogit(Transformer model, float[] direction, ReadOnlySpan<float> residual, int token)
    {
        var (_, unembedding, gain) = model.GetTokenMatrices();
        int d = direction.Length;
        bool center = model.Config.Norm == NormKind.LayerNorm;
        double rMean = center ? residual.ToArray().Average(x => (double)x) : 0, dMean = center ? direction.Average(x => (double)x) : 0;
        double variance = 0;
        foreach (float x in residual) variance += (x - rMean) * (x - rMean) / d;
        double logit = 0;
        for (int j = 0; j < d; j++) logit += (direction[j] - dMean) * gain.Span[j] * unembedding.Span[token * d + j];
        return logit / Math.Sqrt(variance + model.Config.NormEps);
    }

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected}, got {actual}");

    [Fact]
    public void Residual_hooks_are_writable_where_they_sit_in_the_pass()
    {
        using var transformer = Load("gpt2-tiny");
        int[] window = [3, 17, 8, 41, 5];
        int d = transformer.Config.ModelDim;
        var clean = Logits(transformer, window);
        HookEdit shift = (values, _, seq, width) =>
        {
            for (int r = 0; r < seq; r++) values[r * width + r % width] += 0.5f;
        };
        // The same change to what leaves block 0 is the same pass whichever hook makes it: mlp_out adds into
        // resid_post, which is the next block's resid_pre.
        var post = Logits(transformer, window, new HookPatch("blocks.0.hook_resid_post", shift));
        Assert.NotEqual(clean, post);
        AssertClose(post, Logits(transformer, window, new HookPatch("blocks.1.hook_resid_pre", shift)));
        AssertClose(post, Logits(transformer, window, new HookPatch("blocks.0.hook_mlp_out", shift)));
        // hook_attn_out's change reaches block 0's MLP, so it is not the same pass as resid_post's.
        var attn = Logits(transformer, window, new HookPatch("blocks.0.hook_attn_out", shift));
        Assert.NotEqual(clean, attn);
        Assert.NotEqual(post, attn);
        Assert.NotEqual(clean, Logits(transformer, window, new HookPatch("blocks.0.attn.hook_z", shift)));
        // A read of a patched hook returns the patched values.
        var read = transformer.Forward(window, 1, window.Length, new ForwardRequest(["blocks.1.hook_resid_pre", "blocks.0.hook_resid_post"],
            Patches: [new HookPatch("blocks.1.hook_resid_pre", shift)]));
        var before = read.Hook("blocks.0.hook_resid_post").ToArray();
        var after = read.Hook("blocks.1.hook_resid_pre").ToArray();
        for (int r = 0; r < window.Length; r++) Assert.Equal(before[r * d + r % d] + 0.5f, after[r * d + r % d]);
        // An edit that changes nothing leaves the pass as it was, and no patch costs nothing.
        AssertClose(clean, Logits(transformer, window, new HookPatch("blocks.0.hook_attn_out", (_, _, _, _) => { })));
        Assert.Equal(clean, Logits(transformer, window));
        var refused = Assert.Throws<NeuronExplainerException>(() => Logits(transformer, window, new HookPatch(ForwardRequest.AttnPattern(0), (_, _, _, _) => { })));
        Assert.Contains("attention patterns are not writable", refused.Message);
    }

    [Fact]
    public void A_latent_whose_sae_is_unknown_fails_with_the_reason()
    {
        using var transformer = Load("gpt2-tiny");
        var excerpt = new ActivationRecord(["<3>", "<17>", "<8>"], [0, 1, 0]);
        var record = new NeuronRecord(NeuronId.Latent("elsewhere", 0, 2), [], null, null, 0, null, null, null, [excerpt]);
        var effect = new NeuronAblation(transformer, _ => null).Measure(record, [excerpt], CancellationToken.None);
        Assert.Contains("the files of SAE elsewhere are not known", effect.Problem);
    }

    static float[] Logits(Transformer model, int[] window, params HookPatch[] patches) =>
        model.Forward(window, 1, window.Length, new ForwardRequest([], Logits: true, Patches: patches)).Logits!.Value.ToArray();

    static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {actual[i]}");
    }
}
