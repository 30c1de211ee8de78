namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Chooses the matrix-multiply backend: OpenBLAS when the library loads, the managed kernel otherwise.
/// <c>NEURONEXPLAINER_GEMM=managed|openblas|auto</c> forces a choice (tests and benchmarks use it).
/// </summary>
public static class GemmBackends
{
    public const string EnvironmentVariable = "NEURONEXPLAINER_GEMM";

    private static readonly Lazy<IGemm> DefaultBackend = new(() => Select(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    public static IGemm Default => DefaultBackend.Value;

    public static IGemm Select(string? choice) => choice?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => (IGemm?)OpenBlasGemm.TryCreate() ?? new ManagedGemm(),
        "managed" => new ManagedGemm(),
        "openblas" => OpenBlasGemm.TryCreate()
            ?? throw new NeuronExplainerException($"{EnvironmentVariable}=openblas but libopenblas could not be loaded (install libopenblas0-pthread, or use 'managed')"),
        _ => throw new NeuronExplainerException($"{EnvironmentVariable}='{choice}' is not a GEMM backend; expected auto, openblas or managed"),
    };
}
