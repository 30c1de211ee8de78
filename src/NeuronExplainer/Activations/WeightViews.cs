using System.Numerics.Tensors;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Weight-based views of neurons, following OpenAI's definitions for GPT-2 and a defined analogue for
/// gated (Llama) MLPs. A neuron's "response" to a residual-stream vector x is
/// GPT-2: <c>w_in · x</c> (its c_fc row, before the GELU, as OpenAI computed it);
/// Llama: <c>silu(w1 · x̂) * (w3 · x̂)</c> with <c>x̂ = x / rms(x)</c>, the activation the neuron would take if x
/// were its whole, RMS-normalised input (a gated unit is not linear, so the scale of x must be fixed).
/// Norm gains and biases are left out in both. From the response:
/// input token weights = response to each token's embedding; output token weights = the neuron's output
/// row · each token's unembedding; upstream connections = response to each earlier neuron's output row;
/// downstream connections = each later neuron's response to this neuron's output row.
/// </summary>
public sealed class WeightViews
{
    readonly ITransformerModel model;
    readonly int tokenCount, connectionCount, dModel;
    readonly MlpWeights[] mlps;
    readonly ReadOnlyMemory<float> embedding, unembedding;
    readonly ReadOnlyMemory<float>[] outputs;

    public WeightViews(ITransformerModel model, int tokenCount, int connectionCount)
    {
        this.model = model;
        this.tokenCount = tokenCount;
        this.connectionCount = connectionCount;
        dModel = model.Info.ModelDim;
        mlps = Enumerable.Range(0, model.Info.LayerCount).Select(model.GetMlpWeights).ToArray();
        int expected = model.Info.MlpDim * dModel;
        for (int layer = 0; layer < mlps.Length; layer++)
            if (mlps[layer].In.Length != expected || mlps[layer].Out.Length != expected || mlps[layer].Up is { Length: var g } && g != expected)
                throw new NeuronExplainerException($"layer {layer} of {model.Info.Name} has MLP weights of {mlps[layer].In.Length}/{mlps[layer].Up?.Length}/{mlps[layer].Out.Length} values where {expected} (d_mlp x d_model) were expected");
        var (e, u) = model.GetTokenMatrices();
        Gated = mlps[0].Up is not null;
        // A gated response needs RMS-normalised inputs; normalise each input row once here.
        embedding = Gated ? RmsNormalisedRows(e.Span) : e;
        unembedding = u;
        outputs = mlps.Select(m => Gated ? RmsNormalisedRows(m.Out.Span) : m.Out).ToArray();
    }

    /// <summary>True for Llama-style MLPs (gate and up projections), false for GPT-2's single projection.</summary>
    public bool Gated { get; }

    /// <summary>Input and output token weights of every neuron of <paramref name="layer"/>.</summary>
    public WeightBasedSummaryOfNeuron[] TokenWeights(int layer, Func<int, string> tokenString)
    {
        int vocab = model.Info.VocabSize;
        var result = new WeightBasedSummaryOfNeuron[model.Info.MlpDim];
        var mlp = mlps[layer];
        Parallel.For(0, model.Info.MlpDim, n =>
        {
            var scores = new float[vocab];
            var e = embedding.Span;
            for (int t = 0; t < vocab; t++) scores[t] = Response(mlp, n, e.Slice(t * dModel, dModel));
            var (inputPositive, inputNegative) = Extremes(scores, tokenCount);
            var outRow = mlp.Out.Span.Slice(n * dModel, dModel);
            var u = unembedding.Span;
            for (int t = 0; t < vocab; t++) scores[t] = TensorPrimitives.Dot(outRow, u.Slice(t * dModel, dModel));
            var (outputPositive, outputNegative) = Extremes(scores, tokenCount);
            result[n] = new WeightBasedSummaryOfNeuron(
                Tokens(inputPositive), Tokens(inputNegative), Tokens(outputPositive), Tokens(outputNegative));
        });
        return result;

        TokensAndWeights Tokens((int Index, float Score)[] chosen) =>
            new(chosen.Select(c => tokenString(c.Index)).ToArray(), chosen.Select(c => (double)c.Score).ToArray());
    }

    /// <summary>Strongest upstream and downstream neurons of every neuron of <paramref name="layer"/>.</summary>
    public NeuronConnections[] Connections(int layer)
    {
        int width = model.Info.MlpDim, layerCount = model.Info.LayerCount;
        var result = new NeuronConnections[width];
        Parallel.For(0, width, n =>
        {
            ConnectionList? upstream = null, downstream = null;
            if (layer > 0)
            {
                var scores = new float[layer * width];
                for (int source = 0; source < layer; source++)
                {
                    var rows = outputs[source].Span;
                    for (int m = 0; m < width; m++) scores[source * width + m] = Response(mlps[layer], n, rows.Slice(m * dModel, dModel));
                }
                upstream = List(scores, 0);
            }
            if (layer < layerCount - 1)
            {
                var scores = new float[(layerCount - 1 - layer) * width];
                var row = outputs[layer].Span.Slice(n * dModel, dModel);
                for (int target = layer + 1; target < layerCount; target++)
                    for (int m = 0; m < width; m++) scores[(target - layer - 1) * width + m] = Response(mlps[target], m, row);
                downstream = List(scores, layer + 1);
            }
            result[n] = new NeuronConnections(upstream, downstream);
        });
        return result;

        ConnectionList List(float[] scores, int firstLayer)
        {
            var (positive, negative) = Extremes(scores, connectionCount);
            string Name(int index) => ConnectionList.Key(new NeuronId(firstLayer + index / width, index % width));
            return new ConnectionList(
                positive.Select(p => Name(p.Index)).ToArray(), positive.Select(p => (double)p.Score).ToArray(),
                negative.Select(p => Name(p.Index)).ToArray(), negative.Select(p => (double)p.Score).ToArray());
        }
    }

    float Response(MlpWeights mlp, int neuron, ReadOnlySpan<float> x)
    {
        float pre = TensorPrimitives.Dot(mlp.In.Span.Slice(neuron * dModel, dModel), x);
        if (mlp.Up is not { } up) return pre;
        float linear = TensorPrimitives.Dot(up.Span.Slice(neuron * dModel, dModel), x);
        return pre / (1 + MathF.Exp(-pre)) * linear;
    }

    ReadOnlyMemory<float> RmsNormalisedRows(ReadOnlySpan<float> rows)
    {
        var normalised = rows.ToArray();
        for (int start = 0; start < normalised.Length; start += dModel)
        {
            var row = normalised.AsSpan(start, dModel);
            float rms = MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / dModel);
            if (rms > 0) TensorPrimitives.Divide(row, rms, row);
        }
        return normalised;
    }

    /// <summary>The <paramref name="count"/> highest scores (highest first) and lowest (lowest first).</summary>
    internal static ((int Index, float Score)[] Highest, (int Index, float Score)[] Lowest) Extremes(ReadOnlySpan<float> scores, int count)
    {
        count = Math.Min(count, scores.Length);
        // Min-heap of the best so far keyed by score (ties: the higher index is worse), and the mirror for the lowest.
        var highest = new PriorityQueue<int, (float, int)>(count + 1);
        var lowest = new PriorityQueue<int, (float, int)>(count + 1);
        for (int i = 0; i < scores.Length; i++)
        {
            float s = scores[i];
            highest.Enqueue(i, (s, -i));
            if (highest.Count > count) highest.Dequeue();
            lowest.Enqueue(i, (-s, -i));
            if (lowest.Count > count) lowest.Dequeue();
        }
        return (Drain(highest, scores), Drain(lowest, scores));
    }

    static (int Index, float Score)[] Drain(PriorityQueue<int, (float, int)> queue, ReadOnlySpan<float> scores)
    {
        var chosen = new (int Index, float Score)[queue.Count];
        for (int i = chosen.Length - 1; i >= 0; i--)
        {
            int index = queue.Dequeue();
            chosen[i] = (index, scores[index]);
        }
        return chosen;
    }
}
