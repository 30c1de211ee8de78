using System.Numerics.Tensors;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;

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
    readonly IGemm gemm;

    public WeightViews(ITransformerModel model, int tokenCount, int connectionCount, IGemm? gemm = null)
    {
        this.model = model;
        this.gemm = gemm ?? GemmBackends.Default;
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

    /// <summary>Floats of one block of scores (neurons x candidates); three such blocks are live at a time.</summary>
    public const int BlockFloats = 1 << 24;

    /// <summary>
    /// Bytes of the score blocks live at a time: at most three (scores and gate for token weights, or scores and
    /// one source layer's block for connections) of <see cref="ForBlocks"/>'s size for the widest candidate list.
    /// </summary>
    public static long WorkBytes(ModelInfo info)
    {
        long candidates = Math.Max(info.VocabSize, (long)Math.Max(1, info.LayerCount - 1) * info.MlpDim);
        return 3 * 4 * Math.Min(Math.Max(BlockFloats, candidates), info.MlpDim * candidates);
    }

    /// <summary>Input and output token weights of every neuron of <paramref name="layer"/>.</summary>
    public WeightBasedSummaryOfNeuron[] TokenWeights(int layer, Func<int, string> tokenString)
    {
        int vocab = model.Info.VocabSize, width = model.Info.MlpDim;
        var result = new WeightBasedSummaryOfNeuron[width];
        var mlp = mlps[layer];
        ForBlocks(width, vocab, Gated, (first, count, scores, gate) =>
        {
            Responses(mlp, first, count, embedding.Span, vocab, scores, gate);
            var inputs = RowExtremes(scores, count, vocab, tokenCount);
            gemm.Multiply(false, true, count, vocab, dModel, mlp.Out.Span.Slice(first * dModel, count * dModel), dModel, unembedding.Span, dModel, scores, vocab, accumulate: false);
            var outputs = RowExtremes(scores, count, vocab, tokenCount);
            for (int i = 0; i < count; i++)
                result[first + i] = new WeightBasedSummaryOfNeuron(
                    Tokens(inputs[i].Highest), Tokens(inputs[i].Lowest), Tokens(outputs[i].Highest), Tokens(outputs[i].Lowest));
        });
        return result;

        TokensAndWeights Tokens((int Index, float Score)[] chosen) =>
            new(chosen.Select(c => tokenString(c.Index)).ToArray(), chosen.Select(c => (double)c.Score).ToArray());
    }

    /// <summary>Strongest upstream and downstream neurons of every neuron of <paramref name="layer"/>.</summary>
    public NeuronConnections[] Connections(int layer)
    {
        int width = model.Info.MlpDim, layerCount = model.Info.LayerCount;
        var upstream = new ConnectionList?[width];
        var downstream = new ConnectionList?[width];
        if (layer > 0)
            ForBlocks(width, layer * width, false, (first, count, scores, _) =>
            {
                // This layer's neurons' responses to every earlier neuron's output row, one source layer at a time.
                var block = new float[count * width];
                var gated = Gated ? new float[count * width] : null;
                for (int source = 0; source < layer; source++)
                {
                    Responses(mlps[layer], first, count, outputs[source].Span, width, block, gated);
                    for (int i = 0; i < count; i++) block.AsSpan(i * width, width).CopyTo(scores.AsSpan(i * layer * width + source * width, width));
                }
                var extremes = RowExtremes(scores, count, layer * width, connectionCount);
                for (int i = 0; i < count; i++) upstream[first + i] = List(extremes[i], 0);
            });
        if (layer < layerCount - 1)
        {
            int later = layerCount - 1 - layer;
            ForBlocks(width, later * width, false, (first, count, scores, _) =>
            {
                // Every later neuron's response to this block's output rows: [later neurons, block] per target layer.
                var rows = outputs[layer].Span.Slice(first * dModel, count * dModel);
                var block = new float[width * count];
                var gated = Gated ? new float[width * count] : null;
                for (int target = layer + 1; target < layerCount; target++)
                {
                    Responses(mlps[target], 0, width, rows, count, block, gated);
                    int offset = (target - layer - 1) * width;
                    for (int m = 0; m < width; m++)
                        for (int i = 0; i < count; i++) scores[i * later * width + offset + m] = block[m * count + i];
                }
                var extremes = RowExtremes(scores, count, later * width, connectionCount);
                for (int i = 0; i < count; i++) downstream[first + i] = List(extremes[i], layer + 1);
            });
        }
        return Enumerable.Range(0, width).Select(n => new NeuronConnections(upstream[n], downstream[n])).ToArray();

        ConnectionList List(((int Index, float Score)[] Highest, (int Index, float Score)[] Lowest) chosen, int firstLayer)
        {
            string Name(int index) => ConnectionList.Key(new NeuronId(firstLayer + index / width, index % width));
            return new ConnectionList(
                chosen.Highest.Select(p => Name(p.Index)).ToArray(), chosen.Highest.Select(p => (double)p.Score).ToArray(),
                chosen.Lowest.Select(p => Name(p.Index)).ToArray(), chosen.Lowest.Select(p => (double)p.Score).ToArray());
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> over blocks of neurons, each with a [count, candidates] score buffer (and a
    /// second one for gated responses when <paramref name="withGate"/>) of at most <see cref="BlockFloats"/> floats.
    /// </summary>
    static void ForBlocks(int neurons, int candidates, bool withGate, Action<int, int, float[], float[]?> work)
    {
        int perBlock = Math.Clamp(BlockFloats / Math.Max(1, candidates), 1, neurons);
        var scores = new float[(long)perBlock * candidates];
        var gate = withGate ? new float[(long)perBlock * candidates] : null;
        for (int first = 0; first < neurons; first += perBlock) work(first, Math.Min(perBlock, neurons - first), scores, gate);
    }

    /// <summary>
    /// Responses of neurons [first, first + count) of <paramref name="mlp"/> to <paramref name="rows"/> input vectors
    /// (row-major [rows, d_model]) into <paramref name="scores"/> [count, rows]: one GEMM (two when gated).
    /// </summary>
    void Responses(MlpWeights mlp, int first, int count, ReadOnlySpan<float> inputs, int rows, float[] scores, float[]? gate)
    {
        gemm.Multiply(false, true, count, rows, dModel, mlp.In.Span.Slice(first * dModel, count * dModel), dModel, inputs, dModel, scores, rows, accumulate: false);
        if (mlp.Up is not { } up) return;
        gemm.Multiply(false, true, count, rows, dModel, up.Span.Slice(first * dModel, count * dModel), dModel, inputs, dModel, gate!, rows, accumulate: false);
        var pre = scores.AsSpan(0, count * rows);
        var linear = gate.AsSpan(0, count * rows);
        for (int i = 0; i < pre.Length; i++) pre[i] = pre[i] / (1 + MathF.Exp(-pre[i])) * linear[i];
    }

    /// <summary>The extremes of each of <paramref name="count"/> score rows, in parallel.</summary>
    static ((int Index, float Score)[] Highest, (int Index, float Score)[] Lowest)[] RowExtremes(float[] scores, int count, int length, int take)
    {
        var result = new ((int Index, float Score)[] Highest, (int Index, float Score)[] Lowest)[count];
        Parallel.For(0, count, i => result[i] = Extremes(scores.AsSpan(i * length, length), take));
        return result;
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
