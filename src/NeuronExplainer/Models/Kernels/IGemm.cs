namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Single-precision matrix multiply on row-major matrices: C[m, n] = op(A)[m, k] · op(B)[k, n], or
/// C += ... when <c>accumulate</c> is set (used to fuse bias and residual adds into the product).
/// op(X) is X or its transpose; leading dimensions are row strides of the matrices as stored.
/// Two implementations: OpenBLAS through P/Invoke, and a managed SIMD kernel for machines without it.
/// Both also multiply by bf16 weights (<see cref="MultiplyBf16"/>): neither has a bf16 instruction path (OpenBLAS's
/// sbgemm is missing from Debian's build, and this project has no AVX-512 BF16 machine to test one on), so both widen
/// the weights to float32 a bounded panel at a time.
/// </summary>
public interface IGemm
{
    string Name { get; }

    void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, bool accumulate);

    /// <summary>
    /// C[m, n] (+)= A[m, k] · Bᵀ with B [n, k] (row stride ldb) in bf16 bits, widened to float32 as it is read,
    /// products accumulated in float32 (a bf16 weight matrix: x · Wᵀ).
    /// </summary>
    void MultiplyBf16(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, int ldb,
        Span<float> c, int ldc, bool accumulate);
}

internal static class GemmArguments
{
    /// <summary>Rejects shapes that would read or write outside the spans, before any native code runs.</summary>
    public static void Check(bool transposeA, bool transposeB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"negative GEMM shape m={m} n={n} k={k}");
        CheckMatrix("A", transposeA ? k : m, transposeA ? m : k, aLength, lda);
        CheckMatrix("B", transposeB ? n : k, transposeB ? k : n, bLength, ldb);
        CheckMatrix("C", m, n, cLength, ldc);
    }

    private static void CheckMatrix(string name, int rows, int cols, int length, int ld)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"GEMM {name}: leading dimension {ld} < {cols} columns");
        if ((long)(rows - 1) * ld + cols > length)
            throw new ArgumentException($"GEMM {name}: {rows}x{cols} with stride {ld} needs more than the {length} elements given");
    }
}
