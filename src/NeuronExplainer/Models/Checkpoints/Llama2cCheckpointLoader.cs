using System.Runtime.InteropServices;

namespace NeuronExplainer.Models.Checkpoints;

/// <summary>
/// Loads llama2.c's legacy (v0) <c>.bin</c> checkpoint: seven int32 (dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size, seq_len; a negative vocab_size means an unshared classifier follows), then fp32
/// arrays in run.c's order (weight matrices kept as float32 or rounded to bf16 as read). llama2.c rotates interleaved pairs (2i, 2i+1) of each head; the engine uses
/// Hugging Face's rotate-half pairs (i, i + head_dim/2), so the rows of wq and wk are permuted within each
/// head on load, which gives identical attention scores with one RoPE kernel.
/// </summary>
public static class Llama2cCheckpointLoader
{
    private const int HeaderInts = 7;

    /// <summary>First int32 of llama2.c's newer export formats (version 1 and 2), which are not the v0 layout.</summary>
    private const int NewFormatMagic = 0x616b3432;

    public static TransformerWeights Load(string path, WeightDType dtype = WeightDType.Float32)
    {
        if (!File.Exists(path)) throw new NeuronExplainerException($"{path}: checkpoint not found");
        using var stream = File.OpenRead(path);
        var fileLength = stream.Length;
        if (fileLength < HeaderInts * 4) throw new NeuronExplainerException($"{path}: file is {fileLength} bytes, too short for a llama2.c header");

        var header = new int[HeaderInts];
        stream.ReadExactly(MemoryMarshal.AsBytes(header.AsSpan()));
        if (header[0] == NewFormatMagic)
            throw new NeuronExplainerException($"{path}: llama2.c version 1/2 export (magic 'ak42') is not supported; expected the legacy v0 format");
        int dim = header[0], hidden = header[1], layers = header[2], heads = header[3], kvHeads = header[4], seqLen = header[6];
        var sharedClassifier = header[5] > 0;
        var vocab = Math.Abs(header[5]);
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab == 0 || seqLen <= 0 || dim % heads != 0 || heads % kvHeads != 0 || dim / heads % 2 != 0)
            throw new NeuronExplainerException($"{path}: header (dim={dim}, hidden_dim={hidden}, n_layers={layers}, n_heads={heads}, n_kv_heads={kvHeads}, vocab_size={header[5]}, seq_len={seqLen}) is not a llama2.c v0 checkpoint");

        var headDim = dim / heads;
        var kvDim = kvHeads * headDim;
        var config = new TransformerConfig("llama2.c", layers, dim, hidden, heads, kvHeads, headDim, vocab, seqLen,
            NormKind.RmsNorm, 1e-5f, MlpActivation.Silu, GatedMlp: true, LearnedPositions: false, RopeTheta: 10000f, PrependsBos: true);

        long d = dim, h = hidden, l = layers, kv = kvDim;
        var floats = vocab * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d + 3 * l * h * d + d
            + 2 * (long)seqLen * (headDim / 2) + (sharedClassifier ? 0 : vocab * d);
        var expected = HeaderInts * 4 + floats * 4;
        if (fileLength != expected)
            throw new NeuronExplainerException($"{path}: file is {fileLength} bytes but its header (dim={dim}, n_layers={layers}, vocab_size={header[5]}, seq_len={seqLen}) implies {expected} (truncated, or not a llama2.c v0 checkpoint)");

        float[] Next(long count)
        {
            var values = GC.AllocateUninitializedArray<float>(checked((int)count));
            stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }
        float[][] PerLayer(long count) => Enumerable.Range(0, layers).Select(_ => Next(count)).ToArray();
        // Matrices are converted to the wanted dtype as they are read (query and key rows reordered first).
        WeightMatrix[] Matrices(long count, Func<float[], float[]>? reorder = null) =>
            Enumerable.Range(0, layers).Select(_ => WeightMatrix.Of(reorder is null ? Next(count) : reorder(Next(count)), dtype)).ToArray();

        var embedding = WeightMatrix.Of(Next(vocab * d), dtype);
        var attentionNorm = PerLayer(d);
        var wq = Matrices(d * d, w => InterleavedToHalves(w, heads, headDim, dim));
        var wk = Matrices(kv * d, w => InterleavedToHalves(w, kvHeads, headDim, dim));
        var wv = Matrices(kv * d);
        var wo = Matrices(d * d);
        var mlpNorm = PerLayer(d);
        var w1 = Matrices(h * d);
        var w2 = Matrices(d * h);
        var w3 = Matrices(h * d);
        var finalNorm = Next(d);
        stream.Seek(2L * seqLen * (headDim / 2) * 4, SeekOrigin.Current); // freq_cis tables: recomputed instead
        var classifier = sharedClassifier ? embedding : WeightMatrix.Of(Next(vocab * d), dtype);

        var layerWeights = Enumerable.Range(0, layers).Select(i => new LayerWeights(
            new NormWeights(attentionNorm[i], null),
            WeightMatrix.Concat(wq[i], wk[i], wv[i]), null,
            wo[i], null,
            new NormWeights(mlpNorm[i], null),
            w1[i], null, w3[i], w2[i], null)).ToList();
        return new TransformerWeights(config, embedding, null, layerWeights, new NormWeights(finalNorm, null), classifier);
    }

    /// <summary>
    /// Reorders the output rows of a query/key projection within each head from interleaved pairs
    /// (0,1),(2,3)... to halves (0..n/2 paired with n/2..n): new row j takes old row 2j, new row n/2+j old row 2j+1.
    /// </summary>
    internal static float[] InterleavedToHalves(float[] weight, int heads, int headDim, int inDim)
    {
        var result = new float[weight.Length];
        var half = headDim / 2;
        for (var head = 0; head < heads; head++)
        for (var j = 0; j < half; j++)
        {
            var baseRow = head * headDim;
            weight.AsSpan((baseRow + 2 * j) * inDim, inDim).CopyTo(result.AsSpan((baseRow + j) * inDim));
            weight.AsSpan((baseRow + 2 * j + 1) * inDim, inDim).CopyTo(result.AsSpan((baseRow + half + j) * inDim));
        }
        return result;
    }
}
