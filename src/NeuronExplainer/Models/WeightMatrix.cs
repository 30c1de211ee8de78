using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Models;

/// <summary>How the weight matrices of a loaded model are held in memory (<c>--dtype</c>).</summary>
public enum WeightDType
{
    Float32,

    /// <summary>bfloat16: half the memory of float32; products widen the weights and accumulate in float32.</summary>
    BFloat16,
}

/// <summary>The spelling of <see cref="WeightDType"/> in options and manifests: <c>float32</c>, <c>bf16</c>.</summary>
public static class WeightDTypeNames
{
    public static string Name(this WeightDType dtype) => dtype == WeightDType.BFloat16 ? "bf16" : "float32";

    /// <summary>Parses <c>float32</c> or <c>bf16</c>; <paramref name="setting"/> names the option in the error.</summary>
    public static WeightDType Parse(string value, string setting) => value.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => WeightDType.Float32,
        "bf16" or "bfloat16" => WeightDType.BFloat16,
        _ => throw new SettingException(setting, $"'{value}' is not a weight dtype; expected float32 or bf16"),
    };
}

/// <summary>
/// A row-major weight matrix (a projection [out, in] or an embedding [vocab, d]) held in float32 or as bf16 bits.
/// Only the big matrices use it; norms, biases and position embeddings stay float32 arrays.
/// </summary>
public sealed class WeightMatrix
{
    private WeightMatrix(float[]? single, ushort[]? bits)
    {
        Single = single;
        Bits = bits;
    }

    /// <summary>The values as float32, or null when held in bf16.</summary>
    public float[]? Single { get; }

    /// <summary>The values as bf16 bits, or null when held in float32.</summary>
    public ushort[]? Bits { get; }

    public WeightDType DType => Bits is null ? WeightDType.Float32 : WeightDType.BFloat16;

    public int Length => Single?.Length ?? Bits!.Length;

    /// <summary>Bytes the values take.</summary>
    public long Bytes => Single is not null ? 4L * Single.Length : 2L * Bits!.Length;

    /// <summary>float32 values held as <paramref name="dtype"/>: kept, or rounded to the nearest bf16 (ties to even).</summary>
    public static WeightMatrix Of(float[] values, WeightDType dtype) =>
        dtype == WeightDType.Float32 ? new WeightMatrix(values, null) : new WeightMatrix(null, BFloat16.Narrow(values));

    /// <summary>bf16 bits kept as they are (a bf16 checkpoint loaded with bf16 weights).</summary>
    public static WeightMatrix OfBits(ushort[] bits) => new(null, bits);

    public float this[int index] => Single is { } single ? single[index] : BFloat16.Widen(Bits![index]);

    /// <summary>The values as float32: the array itself when held so, else a widened copy.</summary>
    public float[] ToSingle()
    {
        if (Single is { } single) return single;
        var result = GC.AllocateUninitializedArray<float>(Bits!.Length);
        BFloat16.Widen(Bits, result);
        return result;
    }

    /// <summary>Values [start, start + destination.Length) as float32 (an embedding row).</summary>
    public void CopyTo(int start, Span<float> destination)
    {
        if (Single is { } single) single.AsSpan(start, destination.Length).CopyTo(destination);
        else BFloat16.Widen(Bits.AsSpan(start, destination.Length), destination);
    }

    /// <summary>The [rows, cols] matrix transposed to [cols, rows], in the same dtype (GPT-2's Conv1D layout on load).</summary>
    public WeightMatrix Transpose(int rows, int cols) =>
        Single is { } single ? new(NeuralOps.Transpose<float>(single, rows, cols), null) : new(null, NeuralOps.Transpose<ushort>(Bits, rows, cols));

    /// <summary>Matrices with the same column count stacked row-wise (q, k and v fused into one projection); all in one dtype.</summary>
    public static WeightMatrix Concat(params WeightMatrix[] parts)
    {
        if (parts.Any(p => p.DType != parts[0].DType)) throw new ArgumentException("weight matrices of different dtypes cannot be stacked");
        return parts[0].Single is not null
            ? new(Checkpoints.WeightArrays.Concat(parts.Select(p => p.Single!).ToArray()), null)
            : new(null, Checkpoints.WeightArrays.Concat(parts.Select(p => p.Bits!).ToArray()));
    }

    /// <summary>
    /// output[m, n] (+)= input[m, k] · thisᵀ, this being [n, k]: sgemm for float32, the backend's bf16 product
    /// (float32 accumulation) for bf16.
    /// </summary>
    public void MultiplyTransposed(IGemm gemm, ReadOnlySpan<float> input, int m, int k, Span<float> output, int n, bool accumulate)
    {
        if (Single is { } single) gemm.Multiply(false, true, m, n, k, input, k, single, k, output, n, accumulate);
        else gemm.MultiplyBf16(m, n, k, input, k, Bits, k, output, n, accumulate);
    }
}
