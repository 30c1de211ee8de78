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

/// <summary>What an SAE's cfg.json says, in our terms.</summary>
/// <param name="Source">The folder the SAE was read from, for messages.</param>
/// <param name="Hook">The hook the SAE reads, in our (TransformerLens) names.</param>
/// <param name="HookOrigin">Where <paramref name="Hook"/> came from, for errors, e.g. <c>.../cfg.json: field 'hook_name'</c>.</param>
/// <param name="K">Latents kept per token by TopK (0 for the other activations).</param>
public sealed record SaeConfig(SaeFormat Format, string Source, string Hook, string HookOrigin, int InputDim, int LatentCount,
    SaeActivation Activation, int K, SaeInputNorm InputNorm);

/// <summary>An SAE's encoder tensors as read.</summary>
/// <param name="Encoder">W_enc as stored: [d_in, d_sae] (SAELens), or [d_sae, d_in] when <paramref name="EncoderIsLatentMajor"/> (sparsify's encoder.weight).</param>
/// <param name="InputBias">b_dec when it is subtracted from the input (apply_b_dec_to_input), else null.</param>
/// <param name="Threshold">JumpReLU's per-latent threshold.</param>
/// <param name="LatentScale">Per-latent factor applied to pre-activations before TopK (SAELens's rescale_acts_by_decoder_norm: the decoder rows' norms).</param>
/// <param name="ReadDecoder">Reads W_dec as [d_sae, d_in].</param>
public sealed record SaeWeights(float[] Encoder, bool EncoderIsLatentMajor, float[] EncoderBias, float[]? InputBias, float[]? Threshold,
    float[]? LatentScale, Func<float[]> ReadDecoder);

/// <summary>
/// The encoder of a sparse autoencoder, read from SAELens's or sparsify's files (<see cref="SaeLoader"/>): it maps
/// rows of the hook <see cref="SaeConfig.Hook"/> (d_in wide) to <see cref="SaeConfig.LatentCount"/> latent activations,
/// <c>act(norm(x) - b_dec · apply_b_dec_to_input) · W_enc + b_enc)</c>. The decoder is read only when asked for
/// (<see cref="ReadDecoder"/>), since encoding does not need it.
/// </summary>
public sealed class SparseAutoencoder(SaeConfig config, SaeWeights weights)
{
    public SaeConfig Config => config;

    public bool SubtractsDecoderBias => weights.InputBias is not null;

    /// <summary>Bytes the encoder holds in memory (weights and vectors).</summary>
    public long EncoderBytes => 4L * (weights.Encoder.Length + weights.EncoderBias.Length + (weights.InputBias?.Length ?? 0)
        + (weights.Threshold?.Length ?? 0) + (weights.LatentScale?.Length ?? 0));

    /// <summary>
    /// Whether the SAE's hook is a residual-stream vector (resid pre/post, attention or MLP output), so its decoder
    /// directions write into the residual stream and have output tokens and a direct logit effect. Told by the hook, not
    /// by d_in: an <c>attn.hook_z</c> SAE decodes into head space, which is often just as wide (GPT-2: 12 x 64 = 768).
    /// </summary>
    public bool DecodesIntoResidualStream =>
        HookPoint.Parse(config.Hook, int.MaxValue).Kind is HookKind.ResidPre or HookKind.ResidPost or HookKind.AttnOut or HookKind.MlpOut;

    /// <summary>W_dec, [d_sae, d_in]: row i is latent i's decoder direction. Read from the file on each call.</summary>
    public float[] ReadDecoder() => weights.ReadDecoder();

    /// <summary>
    /// Checks that <paramref name="model"/> has the hook and that its width is d_in; the error names the SAE's file and field.
    /// </summary>
    public HookPoint CheckFits(ModelInfo model)
    {
        HookPoint point;
        try
        {
            point = HookPoint.Parse(config.Hook, model.LayerCount);
        }
        catch (NeuronExplainerException e)
        {
            throw new NeuronExplainerException($"{config.HookOrigin}: '{config.Hook}' is not a hook of {model.Name}: {e.Message}", e);
        }
        if (point.Kind == HookKind.AttentionPattern)
            throw new NeuronExplainerException($"{config.HookOrigin}: '{config.Hook}' holds attention patterns, which an SAE does not read");
        int width = point.Width(model);
        if (width != config.InputDim)
            throw new NeuronExplainerException($"{Path.Combine(config.Source, SaeLoader.ConfigFile)}: field 'd_in' is {config.InputDim} but {model.Name}'s hook {config.Hook} is {width} wide; expected {width} (an SAE of another model?)");
        return point;
    }

    /// <summary>
    /// Encodes <paramref name="rows"/> rows of the hook (<paramref name="input"/>, [rows, d_in]) into
    /// <paramref name="latents"/> ([rows, d_sae]); <paramref name="scratch"/> holds at least rows x d_in floats.
    /// </summary>
    public void Encode(ReadOnlySpan<float> input, int rows, Span<float> latents, Span<float> scratch, IGemm gemm)
    {
        int d = config.InputDim, m = config.LatentCount;
        if (input.Length < rows * d || latents.Length < (long)rows * m || scratch.Length < rows * d)
            throw new ArgumentException($"{rows} rows need {rows * d} inputs, {(long)rows * m} latents and {rows * d} scratch floats");
        var x = scratch[..(rows * d)];
        input[..(rows * d)].CopyTo(x);
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * d, d);
            Normalize(row);
            if (weights.InputBias is not null) TensorPrimitives.Subtract(row, weights.InputBias, row);
        }
        var output = latents[..(rows * m)];
        for (int r = 0; r < rows; r++) weights.EncoderBias.CopyTo(output.Slice(r * m, m));
        if (weights.EncoderIsLatentMajor) gemm.Multiply(false, true, rows, m, d, x, d, weights.Encoder, d, output, m, accumulate: true);
        else gemm.Multiply(false, false, rows, m, d, x, d, weights.Encoder, m, output, m, accumulate: true);
        for (int r = 0; r < rows; r++) Activate(output.Slice(r * m, m));
    }

    /// <summary>The latents of one row after their pre-activations are in <paramref name="row"/>.</summary>
    void Activate(Span<float> row)
    {
        switch (config.Activation)
        {
            case SaeActivation.Relu:
                TensorPrimitives.Max(row, 0f, row);
                break;
            case SaeActivation.JumpRelu:
                var t = weights.Threshold!;
                for (int i = 0; i < row.Length; i++)
                    if (!(row[i] > t[i]) || row[i] < 0) row[i] = 0;
                break;
            case SaeActivation.TopK:
                if (weights.LatentScale is not null) TensorPrimitives.Multiply(row, weights.LatentScale, row);
                KeepLargest(row, config.K);
                TensorPrimitives.Max(row, 0f, row);
                break;
        }
    }

    void Normalize(Span<float> row)
    {
        switch (config.InputNorm)
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
    /// Zeroes every value of <paramref name="row"/> but its <paramref name="k"/> largest (ties at the config.K-th value keep the
    /// lowest indices). The config.K-th value is found by selection over a copy (average linear time).
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
