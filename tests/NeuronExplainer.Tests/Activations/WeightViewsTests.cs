using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Tests.Engine;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// Weight-based views against a direct computation of OpenAI's definitions from the raw weight arrays (c_fc as
/// [d_mlp, d_model] rows, c_proj as stored [d_model, d_mlp]), in double precision, with norm gains far from 1.
/// </summary>
public class WeightViewsTests
{
    const int K = 5;

    public static TheoryData<bool> Architectures => new() { false, true };

    static TransformerWeights Weights(bool llama)
    {
        var config = new TransformerConfig(llama ? "LlamaForCausalLM" : "GPT2LMHeadModel", LayerCount: 3, ModelDim: 8, MlpDim: 12, HeadCount: 2,
            KvHeadCount: 2, HeadDim: 4, VocabSize: 40, MaxContext: 16, llama ? NormKind.RmsNorm : NormKind.LayerNorm, 1e-5f,
            llama ? MlpActivation.Silu : MlpActivation.GeluNew, GatedMlp: llama, LearnedPositions: !llama, RopeTheta: 10000, PrependsBos: false);
        var weights = TransformerWeights.Random(config, seed: 3);
        var random = new Random(4);
        // Gains between 0.2 and 3, so leaving them out would change every weight and most rankings.
        foreach (var gain in weights.Layers.Select(l => l.MlpNorm.Weight).Append(weights.FinalNorm.Weight))
            for (int i = 0; i < gain.Length; i++) gain[i] = 0.2f + 2.8f * (float)random.NextDouble();
        return llama ? weights with { Unembedding = TransformerWeights.Random(config, seed: 5).Embedding } : weights;
    }

    [Theory, MemberData(nameof(Architectures))]
    public void Token_and_neuron_weights_follow_openais_definitions_with_the_norm_gains(bool llama)
    {
        var w = Weights(llama);
        var c = w.Config;
        int d = c.ModelDim, mlp = c.MlpDim;
        using var model = new Transformer("tiny", w, new IdTokenizer(c.VocabSize));
        var views = new WeightViews(model, K, K);

        double CFc(int layer, int k, int n) => w.Layers[layer].MlpIn[n * d + k];      // c_fc[k, n] (Llama: w1, the gate projection)
        double CProj(int layer, int n, int k) => w.Layers[layer].MlpOut[k * mlp + n]; // c_proj[n, k] (Llama: w2)
        double Gain2(int layer, int k) => w.Layers[layer].MlpNorm.Weight[k];
        double Input(int layer, int n, int t) => Sum(k => w.Embedding[t * d + k] * Gain2(layer, k) * CFc(layer, k, n));
        double Output(int layer, int n, int t) => Sum(k => CProj(layer, n, k) * w.FinalNorm.Weight[k] * w.Unembedding[t * d + k]);
        double Connection(int l1, int n1, int l2, int n2) => Sum(k => CProj(l1, n1, k) * Gain2(l2, k) * CFc(l2, k, n2));
        double Sum(Func<int, double> term) => Enumerable.Range(0, d).Sum(term);

        for (int layer = 0; layer < c.LayerCount; layer++)
        {
            var tokens = views.TokenWeights(layer, t => t.ToString(CultureInfo.InvariantCulture));
            var connections = views.Connections(layer);
            for (int n = 0; n < mlp; n++)
            {
                var vocab = Enumerable.Range(0, c.VocabSize).ToList();
                Check(tokens[n].InputPositive.Tokens, tokens[n].InputPositive.Strengths, vocab.ToDictionary(t => t.ToString(CultureInfo.InvariantCulture), t => Input(layer, n, t)), highest: true);
                Check(tokens[n].InputNegative.Tokens, tokens[n].InputNegative.Strengths, vocab.ToDictionary(t => t.ToString(CultureInfo.InvariantCulture), t => Input(layer, n, t)), highest: false);
                Check(tokens[n].OutputPositive.Tokens, tokens[n].OutputPositive.Strengths, vocab.ToDictionary(t => t.ToString(CultureInfo.InvariantCulture), t => Output(layer, n, t)), highest: true);
                Check(tokens[n].OutputNegative.Tokens, tokens[n].OutputNegative.Strengths, vocab.ToDictionary(t => t.ToString(CultureInfo.InvariantCulture), t => Output(layer, n, t)), highest: false);

                var upstream = Enumerable.Range(0, layer).SelectMany(l1 => Enumerable.Range(0, mlp).Select(n1 => (l1, n1)))
                    .ToDictionary(x => $"{x.l1}_{x.n1}", x => Connection(x.l1, x.n1, layer, n));
                var downstream = Enumerable.Range(layer + 1, c.LayerCount - layer - 1).SelectMany(l2 => Enumerable.Range(0, mlp).Select(n2 => (l2, n2)))
                    .ToDictionary(x => $"{x.l2}_{x.n2}", x => Connection(layer, n, x.l2, x.n2));
                if (layer == 0) Assert.Null(connections[n].Upstream);
                else
                {
                    Check(connections[n].Upstream!.TopPositiveNeurons, connections[n].Upstream!.TopPositiveWeights, upstream, highest: true);
                    Check(connections[n].Upstream!.TopNegativeNeurons, connections[n].Upstream!.TopNegativeWeights, upstream, highest: false);
                }
                if (layer == c.LayerCount - 1) Assert.Null(connections[n].Downstream);
                else
                {
                    Check(connections[n].Downstream!.TopPositiveNeurons, connections[n].Downstream!.TopPositiveWeights, downstream, highest: true);
                    Check(connections[n].Downstream!.TopNegativeNeurons, connections[n].Downstream!.TopNegativeWeights, downstream, highest: false);
                }
            }
        }
    }

    /// <summary>
    /// Each listed name carries its own expected weight, and the listed weights are the K most extreme expected ones in
    /// order (checked by value, so a near-tie that float rounding orders differently still passes).
    /// </summary>
    static void Check(IReadOnlyList<string> names, IReadOnlyList<double> weights, Dictionary<string, double> expected, bool highest)
    {
        var extremes = (highest ? expected.Values.OrderByDescending(v => v) : expected.Values.OrderBy(v => v)).Take(K).ToList();
        Assert.Equal(extremes.Count, names.Count);
        for (int i = 0; i < names.Count; i++)
        {
            Assert.Equal(expected[names[i]], weights[i], 1e-4);
            Assert.Equal(extremes[i], weights[i], 1e-4);
        }
    }
}
