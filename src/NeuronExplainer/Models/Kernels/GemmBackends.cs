using System.Runtime.Intrinsics;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Chooses the matrix-multiply backend: OpenBLAS when the library loads, the managed kernel otherwise, except
/// on AVX-512 CPUs where OpenBLAS runs 256-bit kernels (e.g. its Haswell kernels, chosen by OPENBLAS_CORETYPE
/// or for CPUs it does not know): there the managed 512-bit kernel measured about twice as fast (see
/// <c>neuron-explainer bench</c>). <c>NEURONEXPLAINER_GEMM=managed|openblas|auto</c> forces a choice.
/// </summary>
public static class GemmBackends
{
    public const string EnvironmentVariable = "NEURONEXPLAINER_GEMM";

    private static readonly Lazy<IGemm> DefaultBackend = new(() => Select(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    public static IGemm Default => DefaultBackend.Value;

    public static IGemm Select(string? choice) => choice?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => OpenBlasGemm.TryCreate() is { } blas && (blas.HasAvx512Kernels || !Vector512.IsHardwareAccelerated) ? blas : new ManagedGemm(),
        "managed" => new ManagedGemm(),
        "openblas" => OpenBlasGemm.TryCreate()
            ?? throw new NeuronExplainerException($"{EnvironmentVariable}=openblas but libopenblas could not be loaded (install libopenblas0-pthread, or use 'managed')"),
        _ => throw new NeuronExplainerException($"{EnvironmentVariable}='{choice}' is not a GEMM backend; expected auto, openblas or managed"),
    };
}
