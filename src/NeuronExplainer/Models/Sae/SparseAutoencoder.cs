using System.Numerics.Tensors;
using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Models.Sae;

/// <summary>How an SAE turns pre-activations into latent activations.</summary>
public enum SaeActivation
{
    /// <summary>ReLU (SAELens's <c>standard</c> architecture).</summary>
    Relu,
    /// <summary>ReLU of pre-activations above a per-latent threshold, zero elsewhere (SAELens's <c>jumprelu</c>).</summary>
    JumpRelu,
    /// <summary>The K largest pre-activations per token, through ReLU, zero elsewhere (SAELens's <c>topk</c>, sparsify).</summary>
    TopK,
}

/// <summary>SAELens's <c>normalize_activations</c> as it applies at inference to the SAE's input.</summary>
public enum SaeInputNorm
{
    /// <summary><c>none</c>.</summary>
    None,
    /// <summary><c>constant_norm_rescale</c>: each input vector scaled to norm sqrt(d_in).</summary>
    ConstantNormRescale,
    /// <summary><c>layer_norm</c>: each input vector centred and divided by its standard deviation (N - 1) plus 1e-5.</summary>
    LayerNorm,
}

/// <summary>Which published layout an SAE was read from.</summary>
public enum SaeFormat { SaeLens, Sparsify }

/// <summary>
/// The encoder of a sparse autoencoder, read from SAELens's or sparsify's files (<see cref="SaeLoader"/>): it maps
/// rows of the hook <see cref="Hook"/> (d_in wide) to <see cref="LatentCount"/> latent activations,
/// <c>act(norm(x) - b_dec · apply_b_dec_to_input) · W_enc + b_enc)</c>. The decoder is read only when asked for
/// (<see cref="ReadDecoder"/>), since encoding does not need it.
/// </summary>
public sealed class SparseAutoencoder
{
    readonly float[] encoder;
    readonly bool encoderIsLatentMajor;
    readonly float[] encoderBias;
    readonly float[]? inputBias;
    readonly float[]? threshold;
    readonly float[]? latentScale;
    readonly Func<float[]> readDecoder;

    /// <param name="encoder">W_enc as stored: [d_in, d_sae] (SAELens), or [d_sae, d_in] when <paramref name="encoderIsLatentMajor"/> (sparsify's encoder.weight).</param>
    /// <param name="inputBias">b_dec when it is subtracted from the input (apply_b_dec_to_input), else null.</param>
    /// <param name="threshold">JumpReLU's per-latent threshold.</param>
    /// <param name="latentScale">Per-latent factor applied to pre-activations before TopK (SAELens's rescale_acts_by_decoder_norm: the decoder rows' norms).</param>
    /// <param name="readDecoder">Reads W_dec as [d_sae, d_in].</param>
    /// <param name="hookOrigin">Where the hook name came from, for errors: the cfg.json field or the folder name.</param>
    public SparseAutoencoder(SaeFormat format, string source, string hook, string hookOrigin, int inputDim, int latentCount, SaeActivation activation, int k,
        SaeInputNorm inputNorm, float[] encoder, bool encoderIsLatentMajor, float[] encoderBias, float[]? inputBias, float[]? threshold,
        float[]? latentScale, Func<float[]> readDecoder)
    {
        Format = format;
        Source = source;
        Hook = hook;
        HookOrigin = hookOrigin;
        InputDim = inputDim;
        LatentCount = latentCount;
        Activation = activation;
        K = k;
        InputNorm = inputNorm;
        this.encoder = encoder;
        this.encoderIsLatentMajor = encoderIsLatentMajor;
        this.encoderBias = encoderBias;
        this.inputBias = inputBias;
        this.threshold = threshold;
        this.latentScale = latentScale;
        this.readDecoder = readDecoder;
    }

    public SaeFormat Format { get; }
    /// <summary>The folder the SAE was read from, for messages.</summary>
    public string Source { get; }
    /// <summary>The hook the SAE reads, in our (TransformerLens) names.</summary>
    public string Hook { get; }
    /// <summary>Where <see cref="Hook"/> came from, e.g. <c>.../cfg.json: field 'hook_name'</c>.</summary>
    public string HookOrigin { get; }
    public int InputDim { get; }
    public int LatentCount { get; }
    public SaeActivation Activation { get; }
    /// <summary>Latents kept per token by TopK (0 for the other activations).</summary>
    public int K { get; }
    public SaeInputNorm InputNorm { get; }
    public bool SubtractsDecoderBias => inputBias is not null;

    /// <summary>Bytes the encoder holds in memory (weights and vectors).</summary>
    public long EncoderBytes => 4L * (encoder.Length + encoderBias.Length + (inputBias?.Length ?? 0) + (threshold?.Length ?? 0) + (latentScale?.Length ?? 0));

    /// <summary>W_dec, [d_sae, d_in]: row i is latent i's decoder direction. Read from the file on each call.</summary>
    public float[] ReadDecoder() => readDecoder();

    /// <summary>
    /// Checks that <paramref name="model"/> has the hook and that its width is d_in; the error names the SAE's file and field.
    /// </summary>
    public HookPoint CheckFits(ModelInfo model)
    {
        HookPoint point;
        try
        {
            point = HookPoint.Parse(Hook, model.LayerCount);
        }
        catch (NeuronExplainerException e)
        {
            throw new NeuronExplainerException($"{HookOrigin}: '{Hook}' is not a hook of {model.Name}: {e.Message}", e);
        }
        if (point.Kind == HookKind.AttentionPattern)
            throw new NeuronExplainerException($"{HookOrigin}: '{Hook}' holds attention patterns, which an SAE does not read");
        int width = point.Width(model);
        if (width != InputDim)
            throw new NeuronExplainerException($"{Path.Combine(Source, SaeLoader.ConfigFile)}: field 'd_in' is {InputDim} but {model.Name}'s hook {Hook} is {width} wide; expected {width} (an SAE of another model?)");
        return point;
    }

    /// <summary>
    /// Encodes <paramref name="rows"/> rows of the hook (<paramref name="input"/>, [rows, d_in]) into
    /// <paramref name="latents"/> ([rows, d_sae]); <paramref name="scratch"/> holds at least rows x d_in floats.
    /// </summary>
    public void Encode(ReadOnlySpan<float> input, int rows, Span<float> latents, Span<float> scratch, IGemm gemm)
    {
        int d = InputDim, m = LatentCount;
        if (input.Length < rows * d || latents.Length < (long)rows * m || scratch.Length < rows * d)
            throw new ArgumentException($"{rows} rows need {rows * d} inputs, {(long)rows * m} latents and {rows * d} scratch floats");
        var x = scratch[..(rows * d)];
        input[..(rows * d)].CopyTo(x);
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * d, d);
            Normalize(row);
            if (inputBias is not null) TensorPrimitives.Subtract(row, inputBias, row);
        }
        var output = latents[..(rows * m)];
        for (int r = 0; r < rows; r++) encoderBias.CopyTo(output.Slice(r * m, m));
        if (encoderIsLatentMajor) gemm.Multiply(false, true, rows, m, d, x, d, encoder, d, output, m, accumulate: true);
        else gemm.Multiply(false, false, rows, m, d, x, d, encoder, m, output, m, accumulate: true);
        for (int r = 0; r < rows; r++) Activate(output.Slice(r * m, m));
    }

    /// <summary>The latents of one row after their pre-activations are in <paramref name="row"/>.</summary>
    void Activate(Span<float> row)
    {
        switch (Activation)
        {
            case SaeActivation.Relu:
                TensorPrimitives.Max(row, 0f, row);
                break;
            case SaeActivation.JumpRelu:
                var t = threshold!;
                for (int i = 0; i < row.Length; i++)
                    if (!(row[i] > t[i]) || row[i] < 0) row[i] = 0;
                break;
            case SaeActivation.TopK:
                if (latentScale is not null) TensorPrimitives.Multiply(row, latentScale, row);
                KeepLargest(row, K);
                TensorPrimitives.Max(row, 0f, row);
                break;
        }
    }

    void Normalize(Span<float> row)
    {
        switch (InputNorm)
        {
            case SaeInputNorm.ConstantNormRescale:
                var norm = TensorPrimitives.Norm(row);
                TensorPrimitives.Multiply(row, MathF.Sqrt(row.Length) / norm, row);
                break;
            case SaeInputNorm.LayerNorm:
                var mean = TensorPrimitives.Sum(row) / row.Length;
                TensorPrimitives.Subtract(row, mean, row);
                var std = MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / (row.Length - 1));
                TensorPrimitives.Divide(row, std + 1e-5f, row);
                break;
        }
    }

    /// <summary>
    /// Zeroes every value of <paramref name="row"/> but its <paramref name="k"/> largest (ties at the K-th value keep the
    /// lowest indices). The K-th value is found by selection over a copy (average linear time).
    /// </summary>
    internal static void KeepLargest(Span<float> row, int k)
    {
        if (k >= row.Length) return;
        var copy = System.Buffers.ArrayPool<float>.Shared.Rent(row.Length);
        try
        {
            var values = copy.AsSpan(0, row.Length);
            row.CopyTo(values);
            float kth = Select(values, k - 1);
            int above = 0;
            foreach (var v in row) if (v > kth) above++;
            int equalKept = k - above;
            for (int i = 0; i < row.Length; i++)
            {
                if (row[i] > kth) continue;
                if (row[i] == kth && equalKept > 0) equalKept--;
                else row[i] = 0;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(copy);
        }
    }

    /// <summary>The value that would sit at <paramref name="rank"/> (0 = largest) if <paramref name="values"/> were sorted descending; reorders them.</summary>
    static float Select(Span<float> values, int rank)
    {
        int low = 0, high = values.Length - 1;
        while (low < high)
        {
            float pivot = values[low + (high - low) / 2];
            int i = low, j = high;
            while (i <= j)
            {
                while (values[i] > pivot) i++;
                while (values[j] < pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (rank <= j) high = j;
            else if (rank >= i) low = i;
            else return values[rank];
        }
        return values[rank];
    }
}
