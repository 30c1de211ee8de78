using System.Numerics.Tensors;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Weight-based views of neurons as OpenAI defines them for GPT-2 (their "Definition of connection weights"), with
/// the norm gains and without biases or the nonlinearity:
/// input weight of token t = <c>wte[t] @ diag(ln_2.g) @ c_fc[:, n]</c>;
/// output weight of token t = <c>c_proj[n, :] @ diag(ln_f.g) @ unembedding[t]</c> (GPT-2 ties it to wte);
/// neuron n1 of layer l1 to neuron n2 of a later layer l2 = <c>c_proj_l1[n1, :] @ diag(ln_2.g of l2) @ c_fc_l2[:, n2]</c>.
/// The Llama analogue puts the RMSNorm gains in place of the LayerNorm gains (the post-attention norm of the
/// reading layer; the final norm for output tokens), <c>w2</c> in place of c_proj, and the gate projection
/// <c>w1</c> (gate_proj, the input of the SiLU, as c_fc is the input of GPT-2's GELU) in place of c_fc; the up
/// projection <c>w3</c> that multiplies the SiLU is left out.
/// </summary>
public sealed class WeightViews
{
    readonly ITransformerModel model;
    readonly int tokenCount, connectionCount, dModel;
    readonly MlpWeights[] mlps;
    /// <summary>Per layer, each neuron's reading row with the gain of the norm before the MLP folded in: diag(g) @ c_fc[:, n].</summary>
    readonly float[][] gainedIn;
    readonly ReadOnlyMemory<float> embedding, unembedding, finalGain;

    public WeightViews(ITransformerModel model, int tokenCount, int connectionCount)
    {
        this.model = model;
        this.tokenCount = tokenCount;
        this.connectionCount = connectionCount;
        dModel = model.Info.ModelDim;
        mlps = Enumerable.Range(0, model.Info.LayerCount).Select(model.GetMlpWeights).ToArray();
        int expected = model.Info.MlpDim * dModel;
        for (int layer = 0; layer < mlps.Length; layer++)
        {
            if (mlps[layer].In.Length != expected || mlps[layer].Out.Length != expected || mlps[layer].Up is { Length: var g } && g != expected)
                throw new NeuronExplainerException($"layer {layer} of {model.Info.Name} has MLP weights of {mlps[layer].In.Length}/{mlps[layer].Up?.Length}/{mlps[layer].Out.Length} values where {expected} (d_mlp x d_model) were expected");
            if (mlps[layer].NormGain.Length != dModel)
                throw new NeuronExplainerException($"layer {layer} of {model.Info.Name} has a norm gain of {mlps[layer].NormGain.Length} values where {dModel} (d_model) were expected");
        }
        (embedding, unembedding, finalGain) = model.GetTokenMatrices();
        if (finalGain.Length != dModel)
            throw new NeuronExplainerException($"{model.Info.Name} has a final norm gain of {finalGain.Length} values where {dModel} (d_model) were expected");
        gainedIn = mlps.Select(m => ScaleRows(m.In.Span, m.NormGain.Span)).ToArray();
    }

    /// <summary>
    /// Bytes the views hold while they are computed: the gained input rows of every layer (a copy of c_fc), and one
    /// score row per neuron in flight (a core each) over the widest candidate list (the vocabulary, or every neuron
    /// of the other layers).
    /// </summary>
    public static long WorkBytes(ModelInfo info)
    {
        long candidates = Math.Max(info.VocabSize, (long)Math.Max(1, info.LayerCount - 1) * info.MlpDim);
        return 4L * info.LayerCount * info.MlpDim * info.ModelDim + 4L * Environment.ProcessorCount * candidates;
    }

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
            var inRow = gainedIn[layer].AsSpan(n * dModel, dModel);
            for (int t = 0; t < vocab; t++) scores[t] = TensorPrimitives.Dot(inRow, e.Slice(t * dModel, dModel));
            var (inputPositive, inputNegative) = Extremes(scores, tokenCount);
            var outRow = new float[dModel];
            TensorPrimitives.Multiply(mlp.Out.Span.Slice(n * dModel, dModel), finalGain.Span, outRow);
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
                var inRow = gainedIn[layer].AsSpan(n * dModel, dModel);
                for (int source = 0; source < layer; source++)
                {
                    var rows = mlps[source].Out.Span;
                    for (int m = 0; m < width; m++) scores[source * width + m] = TensorPrimitives.Dot(rows.Slice(m * dModel, dModel), inRow);
                }
                upstream = List(scores, 0);
            }
            if (layer < layerCount - 1)
            {
                var scores = new float[(layerCount - 1 - layer) * width];
                var row = mlps[layer].Out.Span.Slice(n * dModel, dModel);
                for (int target = layer + 1; target < layerCount; target++)
                {
                    var rows = gainedIn[target].AsSpan();
                    for (int m = 0; m < width; m++) scores[(target - layer - 1) * width + m] = TensorPrimitives.Dot(row, rows.Slice(m * dModel, dModel));
                }
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

    /// <summary>Every row of <paramref name="rows"/> multiplied element-wise by <paramref name="gain"/>.</summary>
    float[] ScaleRows(ReadOnlySpan<float> rows, ReadOnlySpan<float> gain)
    {
        var scaled = new float[rows.Length];
        for (int start = 0; start < rows.Length; start += dModel)
            TensorPrimitives.Multiply(rows.Slice(start, dModel), gain, scaled.AsSpan(start, dModel));
        return scaled;
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
