using System.Numerics;
using System.Numerics.Tensors;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;

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
/// Each gain is folded once into the rows it scales, then the weights are blocked GEMMs (at most
/// <see cref="BlockFloats"/> scores at a time) whose rows or columns feed running top/bottom selections. Every pair
/// of layers is multiplied once: one product gives the downstream lists of the earlier layer's neurons (its rows) and
/// the upstream lists of the later layer's (its columns), so <see cref="Connections"/> must be asked layer by layer
/// in ascending order.
/// </summary>
public sealed class WeightViews
{
    /// <summary>Scores of one GEMM block (neurons x candidates).</summary>
    public const int BlockFloats = 1 << 24;

    readonly ITransformerModel model;
    readonly IGemm gemm;
    readonly int tokenCount, connectionCount, dModel, width, layerCount, vocab;
    readonly ReadOnlyMemory<float>[] inputs, gains;
    readonly ReadOnlyMemory<float> embedding, unembedding, finalGain;
    readonly bool[] wanted;
    /// <summary>Upstream selections of wanted later layers, filled while earlier layers take their turn.</summary>
    readonly Selection?[] upstream;
    readonly float[] gained, block;
    int lastLayer = -1;

    /// <param name="layers">Layers whose connections will be asked for (all by default), in any order.</param>
    public WeightViews(ITransformerModel model, int tokenCount, int connectionCount, IReadOnlyList<int>? layers = null, IGemm? gemm = null)
    {
        this.model = model;
        this.gemm = gemm ?? GemmBackends.Default;
        this.tokenCount = tokenCount;
        this.connectionCount = connectionCount;
        (dModel, width, layerCount, vocab) = (model.Info.ModelDim, model.Info.MlpDim, model.Info.LayerCount, model.Info.VocabSize);
        inputs = new ReadOnlyMemory<float>[layerCount];
        gains = new ReadOnlyMemory<float>[layerCount];
        int expected = width * dModel;
        for (int layer = 0; layer < layerCount; layer++)
        {
            var mlp = model.GetMlpWeights(layer);
            if (mlp.In.Length != expected || mlp.Out.Length != expected || mlp.Up is { Length: var g } && g != expected)
                throw new NeuronExplainerException($"layer {layer} of {model.Info.Name} has MLP weights of {mlp.In.Length}/{mlp.Up?.Length}/{mlp.Out.Length} values where {expected} (d_mlp x d_model) were expected");
            if (mlp.NormGain.Length != dModel)
                throw new NeuronExplainerException($"layer {layer} of {model.Info.Name} has a norm gain of {mlp.NormGain.Length} values where {dModel} (d_model) were expected");
            (inputs[layer], gains[layer]) = (mlp.In, mlp.NormGain);
        }
        (embedding, unembedding, finalGain) = model.GetTokenMatrices();
        if (finalGain.Length != dModel)
            throw new NeuronExplainerException($"{model.Info.Name} has a final norm gain of {finalGain.Length} values where {dModel} (d_model) were expected");
        wanted = new bool[layerCount];
        foreach (int layer in layers ?? Enumerable.Range(0, layerCount).ToArray()) wanted[layer] = true;
        upstream = new Selection?[layerCount];
        gained = new float[expected];
        block = new float[BlockLength(model.Info)];
    }

    /// <summary>
    /// Bytes the views hold while they are computed for <paramref name="layers"/> layers: one layer's gain-folded
    /// input rows, one layer's output rows (the model hands them out transposed, a copy), one score block and its
    /// gain-folded left operand, and the running selections (upstream lists of every wanted layer, downstream lists
    /// of one).
    /// </summary>
    public static long WorkBytes(ModelInfo info, int layers, int tokenCount, int connectionCount)
    {
        long rows = 4L * info.MlpDim * info.ModelDim;
        int blockRows = RowsPerBlock(info.VocabSize, info.MlpDim);
        long selections = Selection.Bytes(info.MlpDim, connectionCount) * (layers + 1) + Selection.Bytes(blockRows, tokenCount) * 2;
        return 2 * rows + 4 * BlockLength(info) + 4L * blockRows * info.ModelDim + selections;
    }

    /// <summary>Floats of the score block: the larger of a block over the vocabulary and a block over one layer's neurons.</summary>
    static long BlockLength(ModelInfo info) =>
        Math.Max(RowsPerBlock(info.VocabSize, info.MlpDim) * (long)info.VocabSize, RowsPerBlock(info.MlpDim, info.MlpDim) * (long)info.MlpDim);

    /// <summary>Input and output token weights of every neuron of <paramref name="layer"/>.</summary>
    public WeightBasedSummaryOfNeuron[] TokenWeights(int layer, Func<int, string> tokenString)
    {
        var result = new WeightBasedSummaryOfNeuron[width];
        FoldGain(inputs[layer].Span, gains[layer].Span, gained, dModel);
        var outRows = model.GetMlpWeights(layer).Out;
        int perBlock = RowsPerBlock(vocab);
        var scaledOut = new float[perBlock * dModel];
        for (int first = 0; first < width; first += perBlock)
        {
            int count = Math.Min(perBlock, width - first);
            var input = Strongest(gemm, gained.AsSpan(first * dModel, count * dModel), count, dModel, embedding.Span, vocab, tokenCount, block);
            FoldGain(outRows.Span.Slice(first * dModel, count * dModel), finalGain.Span, scaledOut, dModel);
            var output = Strongest(gemm, scaledOut.AsSpan(0, count * dModel), count, dModel, unembedding.Span, vocab, tokenCount, block);
            for (int i = 0; i < count; i++)
                result[first + i] = new WeightBasedSummaryOfNeuron(
                    Tokens(input.Highest(i), tokenString), Tokens(input.Lowest(i), tokenString), Tokens(output.Highest(i), tokenString), Tokens(output.Lowest(i), tokenString));
        }
        return result;
    }

    /// <summary>
    /// The output tokens of directions written into the residual stream, as a neuron's: direction i (row i of
    /// <paramref name="directions"/>, [count, d_model], e.g. an SAE's W_dec) scores token t by
    /// <c>directions[i] @ diag(final norm gain) @ unembedding[t]</c> (for an SAE latent, its decoder direction times W_U).
    /// The input lists are empty: an SAE latent's input is no single row of model weights.
    /// </summary>
    public static WeightBasedSummaryOfNeuron[] OutputTokens(ITransformerModel model, ReadOnlySpan<float> directions, int count, int tokenCount, Func<int, string> tokenString, IGemm? gemm = null)
    {
        int dModel = model.Info.ModelDim, vocab = model.Info.VocabSize, perBlock = RowsPerBlock(vocab, count);
        if (directions.Length != (long)count * dModel)
            throw new ArgumentException($"{directions.Length} values are not {count} directions of d_model {dModel}", nameof(directions));
        var (_, unembedding, finalGain) = model.GetTokenMatrices();
        var block = new float[(long)perBlock * vocab];
        var scaled = new float[perBlock * dModel];
        var empty = new TokensAndWeights([], []);
        var result = new WeightBasedSummaryOfNeuron[count];
        for (int first = 0; first < count; first += perBlock)
        {
            int rows = Math.Min(perBlock, count - first);
            FoldGain(directions.Slice(first * dModel, rows * dModel), finalGain.Span, scaled, dModel);
            var output = Strongest(gemm ?? GemmBackends.Default, scaled.AsSpan(0, rows * dModel), rows, dModel, unembedding.Span, vocab, tokenCount, block);
            for (int i = 0; i < rows; i++)
                result[first + i] = new WeightBasedSummaryOfNeuron(empty, empty, Tokens(output.Highest(i), tokenString), Tokens(output.Lowest(i), tokenString));
        }
        return result;
    }

    /// <summary>Bytes <see cref="OutputTokens"/> holds for <paramref name="count"/> directions, with the directions themselves.</summary>
    public static long OutputTokenBytes(ModelInfo info, int count, int tokenCount)
    {
        int perBlock = RowsPerBlock(info.VocabSize, count);
        return 4L * count * info.ModelDim + 4L * perBlock * (info.VocabSize + info.ModelDim) + Selection.Bytes(perBlock, tokenCount) + 2L * count * tokenCount * 40;
    }

    /// <summary>Scores <paramref name="count"/> rows against every token row of <paramref name="tokens"/> in <paramref name="block"/> and selects each row's strongest.</summary>
    static Selection Strongest(IGemm gemm, ReadOnlySpan<float> rows, int count, int dModel, ReadOnlySpan<float> tokens, int vocab, int take, float[] block)
    {
        var scores = block.AsSpan(0, count * vocab);
        gemm.Multiply(false, true, count, vocab, dModel, rows, dModel, tokens, dModel, scores, vocab, accumulate: false);
        var selection = new Selection(count, vocab, take);
        selection.OfferRows(block, count, vocab);
        return selection;
    }

    static TokensAndWeights Tokens((int Index, float Score)[] chosen, Func<int, string> tokenString) =>
        new(chosen.Select(c => tokenString(c.Index)).ToArray(), chosen.Select(c => (double)c.Score).ToArray());

    /// <summary>
    /// Strongest upstream and downstream neurons of every neuron of <paramref name="layer"/>. Layers are asked in
    /// ascending order, each one of those given to the constructor: a layer's products with the wanted layers above
    /// it fill their upstream lists, so those are not multiplied again.
    /// </summary>
    public NeuronConnections[] Connections(int layer)
    {
        if (!wanted[layer] || layer <= lastLayer)
            throw new InvalidOperationException($"connections of layer {layer} asked out of order (after layer {lastLayer}) or not announced to the constructor");
        lastLayer = layer;
        var up = layer > 0 ? upstream[layer] ?? new Selection(width, layer * width, connectionCount) : null;
        upstream[layer] = null;
        // Earlier layers that took no turn (not collected) have not been multiplied with this one yet.
        for (int source = 0; source < layer; source++)
            if (!wanted[source]) Pair(model.GetMlpWeights(source).Out, source, layer, down: null, up);
        var down = layer < layerCount - 1 ? new Selection(width, (layerCount - 1 - layer) * width, connectionCount) : null;
        var outRows = model.GetMlpWeights(layer).Out;
        for (int target = layer + 1; target < layerCount; target++)
        {
            var later = wanted[target] ? upstream[target] ??= new Selection(width, target * width, connectionCount) : null;
            Pair(outRows, layer, target, down, later);
        }
        var result = new NeuronConnections[width];
        for (int n = 0; n < width; n++)
            result[n] = new NeuronConnections(up is null ? null : List(up, n, 0), down is null ? null : List(down, n, layer + 1));
        return result;

        ConnectionList List(Selection chosen, int neuron, int firstLayer)
        {
            var (positive, negative) = (chosen.Highest(neuron), chosen.Lowest(neuron));
            string Name(int index) => ConnectionList.Key(new NeuronId(firstLayer + index / width, index % width));
            return new ConnectionList(
                positive.Select(p => Name(p.Index)).ToArray(), positive.Select(p => (double)p.Score).ToArray(),
                negative.Select(p => Name(p.Index)).ToArray(), negative.Select(p => (double)p.Score).ToArray());
        }
    }

    /// <summary>
    /// Weights from every neuron of <paramref name="source"/> (rows, its output rows <paramref name="outRows"/>) into every neuron of the later layer
    /// <paramref name="target"/> (columns), block of rows by block: rows feed the sources' downstream lists
    /// (candidates numbered from the layer after the source), columns the targets' upstream lists (numbered from layer 0).
    /// </summary>
    void Pair(ReadOnlyMemory<float> outRows, int source, int target, Selection? down, Selection? up)
    {
        FoldGain(inputs[target].Span, gains[target].Span, gained, dModel);
        int perBlock = RowsPerBlock(width);
        for (int first = 0; first < width; first += perBlock)
        {
            int count = Math.Min(perBlock, width - first);
            gemm.Multiply(false, true, count, width, dModel, outRows.Span.Slice(first * dModel, count * dModel), dModel, gained, dModel, block.AsSpan(0, count * width), width, accumulate: false);
            down?.OfferRows(block, count, width, firstList: first, firstCandidate: (target - source - 1) * width);
            up?.OfferColumns(block, count, width, firstCandidate: source * width + first);
        }
    }

    int RowsPerBlock(int candidates) => RowsPerBlock(candidates, width);

    static int RowsPerBlock(int candidates, int width) => Math.Clamp(BlockFloats / Math.Max(1, candidates), 1, width);

    /// <summary>Every d_model row of <paramref name="rows"/> times <paramref name="gain"/>, element-wise, into <paramref name="into"/>.</summary>
    static void FoldGain(ReadOnlySpan<float> rows, ReadOnlySpan<float> gain, Span<float> into, int dModel)
    {
        for (int start = 0; start < rows.Length; start += dModel)
            TensorPrimitives.Multiply(rows.Slice(start, dModel), gain, into.Slice(start, dModel));
    }

    /// <summary>
    /// For each of a number of lists, the <c>k</c> highest and <c>k</c> lowest scores offered to it (at most as many as it
    /// has candidates), with their candidate index. Ties go to the lower index, so the result does not depend on the
    /// order of the offers. A vector compare against each list's current threshold rejects almost every score.
    /// </summary>
    internal sealed class Selection
    {
        readonly int k;
        readonly int[] count, highIndex, lowIndex;
        readonly float[] highScore, lowScore, highBar, lowBar;

        public Selection(int lists, long candidates, int take)
        {
            k = (int)Math.Min(take, candidates);
            count = new int[lists];
            (highIndex, lowIndex) = (new int[lists * k], new int[lists * k]);
            (highScore, lowScore) = (new float[lists * k], new float[lists * k]);
            highBar = Enumerable.Repeat(float.NegativeInfinity, lists).ToArray();
            lowBar = Enumerable.Repeat(float.PositiveInfinity, lists).ToArray();
        }

        public static long Bytes(int lists, int take) => (long)lists * (16L * take + 12);

        /// <summary>Row i of <paramref name="scores"/> [rows, length] to list firstList + i, candidate firstCandidate + j at column j.</summary>
        public void OfferRows(float[] scores, int rows, int length, int firstList = 0, int firstCandidate = 0) =>
            Parallel.For(0, rows, i =>
            {
                var row = scores.AsSpan(i * length, length);
                int list = firstList + i, vector = Vector<float>.Count, j = 0;
                for (; j <= length - vector; j += vector)
                {
                    var v = new Vector<float>(row.Slice(j));
                    if (Vector.GreaterThanOrEqualAny(v, new Vector<float>(highBar[list])) || Vector.LessThanOrEqualAny(v, new Vector<float>(lowBar[list])))
                        for (int q = j; q < j + vector; q++) Offer(list, firstCandidate + q, row[q]);
                }
                for (; j < length; j++) Offer(list, firstCandidate + j, row[j]);
            });

        /// <summary>Column j of <paramref name="scores"/> [rows, length] to list j, candidate firstCandidate + i at row i.</summary>
        public void OfferColumns(float[] scores, int rows, int length, int firstCandidate)
        {
            const int Stripe = 512;
            Parallel.For(0, (length + Stripe - 1) / Stripe, stripe =>
            {
                int start = stripe * Stripe, end = Math.Min(length, start + Stripe), vector = Vector<float>.Count;
                for (int i = 0; i < rows; i++)
                {
                    var row = scores.AsSpan(i * length, length);
                    int j = start;
                    for (; j <= end - vector; j += vector)
                    {
                        var v = new Vector<float>(row.Slice(j));
                        if (Vector.GreaterThanOrEqualAny(v, new Vector<float>(highBar.AsSpan(j))) || Vector.LessThanOrEqualAny(v, new Vector<float>(lowBar.AsSpan(j))))
                            for (int q = j; q < j + vector; q++) Offer(q, firstCandidate + i, row[q]);
                    }
                    for (; j < end; j++) Offer(j, firstCandidate + i, row[j]);
                }
            });
        }

        void Offer(int list, int index, float score)
        {
            if (k == 0 || float.IsNaN(score)) return;
            int n = count[list], at = list * k;
            bool full = n == k;
            if (!full || Before(score, index, highScore[at + k - 1], highIndex[at + k - 1], higher: true))
            {
                Insert(highScore, highIndex, at, full ? k - 1 : n, score, index, higher: true);
                if (n + 1 >= k) highBar[list] = highScore[at + k - 1];
            }
            if (!full || Before(score, index, lowScore[at + k - 1], lowIndex[at + k - 1], higher: false))
            {
                Insert(lowScore, lowIndex, at, full ? k - 1 : n, score, index, higher: false);
                if (n + 1 >= k) lowBar[list] = lowScore[at + k - 1];
            }
            if (!full) count[list] = n + 1;
        }

        /// <summary>Whether (score, index) ranks before (other, otherIndex): more extreme, or as extreme with a lower index.</summary>
        static bool Before(float score, int index, float other, int otherIndex, bool higher) =>
            (higher ? score > other : score < other) || score == other && index < otherIndex;

        /// <summary>Puts (score, index) in place among the first <paramref name="used"/> entries of the list, dropping the last one when full.</summary>
        static void Insert(float[] scores, int[] indexes, int at, int used, float score, int index, bool higher)
        {
            int i = at + used;
            while (i > at && Before(score, index, scores[i - 1], indexes[i - 1], higher))
            {
                scores[i] = scores[i - 1];
                indexes[i] = indexes[i - 1];
                i--;
            }
            scores[i] = score;
            indexes[i] = index;
        }

        public (int Index, float Score)[] Highest(int list) => Entries(highScore, highIndex, list);

        public (int Index, float Score)[] Lowest(int list) => Entries(lowScore, lowIndex, list);

        (int Index, float Score)[] Entries(float[] scores, int[] indexes, int list) =>
            Enumerable.Range(list * k, count[list]).Select(i => (indexes[i], scores[i])).ToArray();
    }
}
