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
    /// Collecting some layers gives those layers the lists a full collection gives them: upstream lists of a layer
    /// whose earlier layers take no turn are multiplied at its own turn. Asking out of order is refused.
    /// </summary>
    [Theory]
    [InlineData(false, new[] { 1 })]
    [InlineData(false, new[] { 0, 2 })]
    [InlineData(true, new[] { 2 })]
    public void A_subset_of_layers_gets_the_lists_of_a_full_collection(bool llama, int[] layers)
    {
        var w = Weights(llama);
        using var model = new Transformer("tiny", w, new IdTokenizer(w.Config.VocabSize));
        var all = new WeightViews(model, K, K);
        var full = Enumerable.Range(0, w.Config.LayerCount).Select(all.Connections).ToArray();
        var some = new WeightViews(model, K, K, layers);
        foreach (int layer in layers)
        {
            var connections = some.Connections(layer);
            for (int n = 0; n < w.Config.MlpDim; n++)
            {
                Assert.Equal(Text(full[layer][n].Upstream), Text(connections[n].Upstream));
                Assert.Equal(Text(full[layer][n].Downstream), Text(connections[n].Downstream));
            }
        }
        Assert.Throws<InvalidOperationException>(() => some.Connections(layers[0]));

        static string Text(ConnectionList? list) => list is null ? "null" : string.Join(" ",
            list.TopPositiveNeurons.Zip(list.TopPositiveWeights).Concat(list.TopNegativeNeurons.Zip(list.TopNegativeWeights))
                .Select(p => $"{p.First}:{p.Second.ToString("R", CultureInfo.InvariantCulture)}"));
    }

    /// <summary>
    /// The running selection keeps the k most extreme scores of each list whatever order rows and columns arrive in,
    /// ties to the lower candidate index, as a full sort of every candidate would.
    /// </summary>
    [Fact]
    public void Selection_by_rows_and_by_columns_equals_a_full_sort_with_ties_to_the_lower_index()
    {
        var random = new Random(8);
        const int lists = 37, candidates = 301, take = 6;
        // Few distinct values, so ties are everywhere.
        var scores = Enumerable.Range(0, lists * candidates).Select(_ => (float)random.Next(-20, 21)).ToArray();
        var byRows = new WeightViews.Selection(lists, candidates, take);
        byRows.OfferRows(scores.AsSpan(0, 20 * candidates).ToArray(), 20, candidates);
        byRows.OfferRows(scores.AsSpan(20 * candidates).ToArray(), lists - 20, candidates, firstList: 20);
        // The same scores as columns of [candidates, lists] blocks, the later rows first.
        var transposed = new float[candidates * lists];
        for (int l = 0; l < lists; l++)
            for (int c = 0; c < candidates; c++) transposed[c * lists + l] = scores[l * candidates + c];
        var byColumns = new WeightViews.Selection(lists, candidates, take);
        byColumns.OfferColumns(transposed.AsSpan(200 * lists).ToArray(), candidates - 200, lists, firstCandidate: 200);
        byColumns.OfferColumns(transposed.AsSpan(0, 200 * lists).ToArray(), 200, lists, firstCandidate: 0);
        for (int l = 0; l < lists; l++)
        {
            var row = Enumerable.Range(0, candidates).Select(c => (Index: c, Score: scores[l * candidates + c])).ToArray();
            var highest = row.OrderByDescending(p => p.Score).ThenBy(p => p.Index).Take(take).ToArray();
            var lowest = row.OrderBy(p => p.Score).ThenBy(p => p.Index).Take(take).ToArray();
            Assert.Equal(highest, byRows.Highest(l));
            Assert.Equal(lowest, byRows.Lowest(l));
            Assert.Equal(highest, byColumns.Highest(l));
            Assert.Equal(lowest, byColumns.Lowest(l));
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
