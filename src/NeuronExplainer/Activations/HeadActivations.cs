using System.Numerics.Tensors;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Activations;

/// <summary>
/// An attention head's activation at a query token t: the L2 norm of what the head writes into the residual stream there,
/// <c>|| z_h(t) · W_O[h]ᵀ ||</c>, where z_h(t) is the head's slice of <c>attn.hook_z</c> (its attention-weighted values) and
/// W_O[h] the d_head columns of the output projection that read it (GPT-2's c_proj rows of the head, Llama's o_proj columns);
/// the projection's bias is left out, since no head owns it. A grouped-KV head counts per query head: heads sharing keys
/// and values still have their own attention and their own columns of W_O.
/// </summary>
public sealed class HeadOutputNorms(ITransformerModel model, IGemm gemm) : IUnitEncoder
{
    float[] norms = [], scratch = [];

    /// <summary>Bytes the buffers take for <paramref name="rows"/> rows: the norms and one head's output rows.</summary>
    public long BufferBytes(long rows) => 4 * rows * (model.Info.HeadCount + model.Info.ModelDim);

    /// <summary>The heads' activations [rows, heads] from <paramref name="z"/> [rows, heads x d_head] of <paramref name="layer"/>.</summary>
    public ReadOnlySpan<float> Encode(ReadOnlySpan<float> z, int layer, int rows)
    {
        int heads = model.Info.HeadCount, headDim = model.Info.HeadDim, d = model.Info.ModelDim, width = heads * headDim;
        if (norms.Length < (long)rows * heads)
        {
            norms = GC.AllocateUninitializedArray<float>(checked(rows * heads));
            scratch = GC.AllocateUninitializedArray<float>(checked(rows * d));
        }
        var weights = model.GetAttentionOutWeights(layer).Span;
        var output = scratch.AsSpan(0, rows * d);
        for (int h = 0; h < heads; h++)
        {
            // One head's write: z_h [rows, d_head] times its columns of W_O [d_model, d_head], transposed.
            gemm.Multiply(false, true, rows, d, headDim, z[(h * headDim)..], width, weights[(h * headDim)..], width, output, d, accumulate: false);
            for (int r = 0; r < rows; r++) norms[r * heads + h] = TensorPrimitives.Norm(output.Slice(r * d, d));
        }
        return norms.AsSpan(0, rows * heads);
    }
}

/// <summary>
/// The tokens each query token of an excerpt attends to most, from <c>attn.hook_pattern</c>: the <see cref="Count"/> keys
/// with the largest attention weights among the excerpt's tokens up to and including the query (ties: the earlier one),
/// strongest first, with their weights as the softmax gave them. A prepended BOS is not a source: it is context, not part of
/// the excerpt, and heads park most of their attention on it, so naming it would hide what they read; its weight is simply
/// missing from the listed ones (which then sum to less than 1).
/// </summary>
public static class AttentionSources
{
    /// <summary>Sources kept per token.</summary>
    public const int Count = 3;

    /// <summary>
    /// Writes the top sources of every query token of one window and head into <paramref name="positions"/> and
    /// <paramref name="weights"/> ([length, Count] each; position -1 where a token has fewer earlier tokens).
    /// </summary>
    /// <param name="block">The head's pattern on the window, [rows, rows] (query, key), rows = offset + length.</param>
    /// <param name="offset">1 when BOS leads the window (its row and column are skipped), else 0.</param>
    public static void Top(ReadOnlySpan<float> block, int rows, int offset, int length, Span<int> positions, Span<float> weights)
    {
        for (int t = 0; t < length; t++)
        {
            var row = block.Slice((t + offset) * rows + offset, t + 1);
            var p = positions.Slice(t * Count, Count);
            var w = weights.Slice(t * Count, Count);
            p.Fill(-1);
            w.Clear();
            for (int k = 0; k < row.Length; k++)
            {
                float weight = row[k];
                // Insert into the sorted top list; a later key must beat an equal weight to enter.
                int at = Count;
                while (at > 0 && (p[at - 1] < 0 || w[at - 1] < weight)) at--;
                if (at == Count) continue;
                for (int j = Count - 1; j > at; j--) { p[j] = p[j - 1]; w[j] = w[j - 1]; }
                p[at] = k;
                w[at] = weight;
            }
        }
    }

    /// <summary>The lists of one window's tokens as records hold them.</summary>
    public static IReadOnlyList<AttendedToken>[] ToLists(ReadOnlySpan<int> positions, ReadOnlySpan<float> weights, int length)
    {
        var lists = new IReadOnlyList<AttendedToken>[length];
        for (int t = 0; t < length; t++)
        {
            var list = new List<AttendedToken>(Count);
            for (int j = 0; j < Count && positions[t * Count + j] >= 0; j++)
                list.Add(new AttendedToken(positions[t * Count + j], LayerSampler.ShortestDouble(weights[t * Count + j])));
            lists[t] = list;
        }
        return lists;
    }
}

/// <summary>
/// The attention sources of every head on the windows a group's records need, kept compactly (positions and weights,
/// <c>8·Count</c> bytes per token and head) while the second pass runs.
/// </summary>
sealed class HeadSources(int heads)
{
    readonly Dictionary<(int Layer, long Window), (int[] Positions, float[] Weights, int Length)> windows = [];

    /// <summary>Bytes per window of one layer at <paramref name="seqLen"/> tokens.</summary>
    public static long WindowBytes(int heads, int seqLen) => (long)heads * seqLen * AttentionSources.Count * 8;

    /// <summary>Reads every head's sources of one window from its pattern block [heads, rows, rows].</summary>
    public void Put(int layer, long window, ReadOnlySpan<float> pattern, int rows, int offset, int length)
    {
        if (windows.ContainsKey((layer, window))) return;
        var positions = new int[heads * length * AttentionSources.Count];
        var weights = new float[positions.Length];
        int perHead = length * AttentionSources.Count;
        for (int h = 0; h < heads; h++)
            AttentionSources.Top(pattern.Slice(h * rows * rows, rows * rows), rows, offset, length,
                positions.AsSpan(h * perHead, perHead), weights.AsSpan(h * perHead, perHead));
        windows[(layer, window)] = (positions, weights, length);
    }

    /// <summary>Head <paramref name="head"/>'s sources on a window, per token.</summary>
    public IReadOnlyList<AttendedToken>[] Attended(int layer, int head, long window)
    {
        var (positions, weights, length) = windows[(layer, window)];
        int perHead = length * AttentionSources.Count;
        return AttentionSources.ToLists(positions.AsSpan(head * perHead, perHead), weights.AsSpan(head * perHead, perHead), length);
    }
}
