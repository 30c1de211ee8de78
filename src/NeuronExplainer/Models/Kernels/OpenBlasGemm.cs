using System.Runtime.InteropServices;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// SGEMM through OpenBLAS's <c>cblas_sgemm</c>, resolved at run time so the product still runs where the
/// library is missing (then <see cref="TryCreate"/> returns null and the managed kernel is used).
/// OpenBLAS threads large products over all cores itself.
/// </summary>
public sealed unsafe class OpenBlasGemm : IGemm
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly string[] LibraryNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll", "openblas"];

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;

    private OpenBlasGemm(delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm, string name, string coreName)
    {
        _sgemm = sgemm;
        Name = name;
        CoreName = coreName;
    }

    public string Name { get; }

    /// <summary>The CPU kernel family OpenBLAS chose (e.g. Haswell, SkylakeX; OPENBLAS_CORETYPE overrides it).</summary>
    public string CoreName { get; }

    /// <summary>Whether that kernel family uses 512-bit vectors.</summary>
    public bool HasAvx512Kernels => CoreName.ToUpperInvariant() is "SKYLAKEX" or "COOPERLAKE" or "SAPPHIRERAPIDS";

    public static OpenBlasGemm? TryCreate()
    {
        foreach (var library in LibraryNames)
        {
            if (!NativeLibrary.TryLoad(library, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm)) continue;
            var name = NativeString(handle, "openblas_get_config") ?? "OpenBLAS";
            var core = NativeString(handle, "openblas_get_corename") ?? "unknown";
            return new OpenBlasGemm((delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm, name, core);
        }
        return null;
    }

    private static string? NativeString(nint library, string function) =>
        NativeLibrary.TryGetExport(library, function, out var export) ? Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)export)()) : null;

    public void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate)
    {
        GemmArguments.Check(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
            _sgemm(RowMajor, transposeA ? Trans : NoTrans, transposeB ? Trans : NoTrans, m, n, k,
                1f, pa, Math.Max(lda, 1), pb, Math.Max(ldb, 1), accumulate ? 1f : 0f, pc, Math.Max(ldc, 1));
    }
}
