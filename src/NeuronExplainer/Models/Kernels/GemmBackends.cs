using System.Runtime.Intrinsics;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Chooses the matrix-multiply backend (<see cref="PrefersOpenBlas"/>): OpenBLAS when the library loads, the managed
/// kernel otherwise, except on AVX-512 CPUs where OpenBLAS runs 256-bit kernels (e.g. its Haswell kernels, chosen by
/// OPENBLAS_CORETYPE or for CPUs it does not know): there the managed 512-bit kernel measured about twice as fast.
/// Where OpenBLAS runs its own kernels (Zen here) it stays the choice also next to a CPU-bound process: there it kept
/// about twice the managed kernel's tokens/s at 1 and 2 threads (bench/engine-results.md, "GEMM choice under load").
/// <c>NEURONEXPLAINER_GEMM=managed|openblas|auto</c> forces a choice.
/// </summary>
public static class GemmBackends
{
    public const string EnvironmentVariable = "NEURONEXPLAINER_GEMM";

    private static readonly Lazy<IGemm> DefaultBackend = new(() => Select(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    public static IGemm Default => DefaultBackend.Value;

    public static IGemm Select(string? choice) => choice?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => OpenBlasGemm.TryCreate() is { } blas && PrefersOpenBlas(true, blas.HasAvx512Kernels, Vector512.IsHardwareAccelerated) ? blas : new ManagedGemm(),
        "managed" => new ManagedGemm(),
        "openblas" => OpenBlasGemm.TryCreate()
            ?? throw new NeuronExplainerException($"{EnvironmentVariable}=openblas but libopenblas could not be loaded (install libopenblas0-pthread, or use 'managed')"),
        _ => throw new NeuronExplainerException($"{EnvironmentVariable}='{choice}' is not a GEMM backend; expected auto, openblas or managed"),
    };

    /// <summary>
    /// The rule of <c>auto</c>, apart from the machine it runs on: OpenBLAS when it loads, unless the CPU runs 512-bit
    /// vectors and OpenBLAS's kernels for it are only 256 bits wide.
    /// </summary>
    internal static bool PrefersOpenBlas(bool openBlasLoads, bool openBlasHasAvx512Kernels, bool cpuHasVector512) =>
        openBlasLoads && (openBlasHasAvx512Kernels || !cpuHasVector512);
}
