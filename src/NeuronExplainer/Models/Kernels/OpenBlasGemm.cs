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

    private readonly delegate* unmanaged<int, void> _setThreads;

    private OpenBlasGemm(delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm,
        delegate* unmanaged<int, void> setThreads, string name, string coreName)
    {
        _sgemm = sgemm;
        _setThreads = setThreads;
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
            var setThreads = NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var set) ? (delegate* unmanaged<int, void>)set : null;
            return new OpenBlasGemm((delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm, setThreads, name, core);
        }
        return null;
    }

    /// <summary>
    /// Sets OpenBLAS's thread count for every later product of the process (OpenBLAS keeps one pool; the benchmark
    /// compares settings with it); false when the library has no <c>openblas_set_num_threads</c>.
    /// </summary>
    public bool TrySetThreads(int threads)
    {
        if (_setThreads == null) return false;
        _setThreads(threads);
        return true;
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

    /// <summary>Floats of the widened panel of B: 4 MB, so a panel of a [n, k] weight is 2^20 / k of its rows.</summary>
    internal const int PanelFloats = 1 << 20;

    /// <summary>The calling thread's panel buffer (a forward pass multiplies on one thread; OpenBLAS threads inside).</summary>
    [ThreadStatic] private static float[]? _panel;

    /// <summary>
    /// The bf16 product through sgemm: B is widened to float32 a panel of rows at a time into a bounded buffer
    /// (<see cref="PanelFloats"/>), and each panel's columns of C are one sgemm call.
    /// </summary>
    public void MultiplyBf16(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, int ldb, Span<float> c, int ldc, bool accumulate)
    {
        GemmArguments.Check(false, true, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        var rows = Math.Clamp(PanelFloats / Math.Max(k, 1), 1, n);
        var panel = _panel ??= GC.AllocateUninitializedArray<float>(PanelFloats, pinned: true);
        if (panel.Length < (long)rows * k) panel = _panel = GC.AllocateUninitializedArray<float>(rows * k, pinned: true);
        for (var start = 0; start < n; start += rows)
        {
            var count = Math.Min(rows, n - start);
            for (var r = 0; r < count; r++) BFloat16.Widen(b.Slice((start + r) * ldb, k), panel.AsSpan(r * k, k));
            Multiply(false, true, m, count, k, a, lda, panel.AsSpan(0, count * k), k, c[start..], ldc, accumulate);
        }
    }
}
