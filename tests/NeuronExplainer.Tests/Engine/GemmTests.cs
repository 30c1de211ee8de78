using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Tests.Engine;

public class GemmTests
{
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { "managed" };
        if (OpenBlasGemm.TryCreate() is not null) data.Add("openblas");
        return data;
    }

    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 33, 5), (9, 31, 17), (13, 65, 300), (64, 64, 64), (65, 8, 65),
        (200, 70, 513), (300, 40, 200), (33, 2100, 40),
    ];

    [Theory]
    [MemberData(nameof(Backends))]
    public void MatchesNaiveProductForAllTransposesAndOddShapes(string backend)
    {
        var gemm = GemmBackends.Select(backend);
        var random = new Random(1234);
        foreach (var (m, n, k) in Shapes)
        foreach (var transA in new[] { false, true })
        foreach (var transB in new[] { false, true })
        foreach (var accumulate in new[] { false, true })
        {
            // Leading dimensions wider than the matrices, as when multiplying a slice of a bigger buffer.
            int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2;
            var a = RandomArray(random, (transA ? k : m) * lda);
            var b = RandomArray(random, (transB ? n : k) * ldb);
            var c = RandomArray(random, m * ldc);
            var expected = (float[])c.Clone();
            for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = accumulate ? c[i * ldc + j] : 0;
                for (var p = 0; p < k; p++)
                    sum += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * ldc + j] = (float)sum;
            }

            gemm.Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);

            for (var i = 0; i < c.Length; i++)
                Assert.True(Math.Abs(c[i] - expected[i]) <= 1e-4f * (1 + Math.Sqrt(k)),
                    $"{backend} m={m} n={n} k={k} transA={transA} transB={transB} acc={accumulate}: C[{i / ldc},{i % ldc}] = {c[i]}, expected {expected[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ZeroDepthProductClearsOrKeepsC(string backend)
    {
        var gemm = GemmBackends.Select(backend);
        var c = new float[] { 1, 2, 3, 4 };
        gemm.Multiply(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: true);
        Assert.Equal([1f, 2, 3, 4], c);
        gemm.Multiply(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: false);
        Assert.Equal([0f, 0, 0, 0], c);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void RejectsSpansTooShortForTheShape(string backend)
    {
        var gemm = GemmBackends.Select(backend);
        var e = Assert.Throws<ArgumentException>(() => gemm.Multiply(false, false, 4, 4, 4, new float[15], 4, new float[16], 4, new float[16], 4, false));
        Assert.Contains("GEMM A", e.Message);
    }

    [Theory]
    // This machine's kind (AMD Zen, AVX2): OpenBLAS's Zen kernels, also under load (bench/engine-results.md).
    [InlineData(true, false, false, true)]
    // AVX-512 CPU with OpenBLAS on 256-bit kernels (OPENBLAS_CORETYPE=Haswell, or a CPU it does not know): managed.
    [InlineData(true, false, true, false)]
    // AVX-512 CPU with OpenBLAS's SkylakeX kernels.
    [InlineData(true, true, true, true)]
    // No OpenBLAS: managed, whatever the CPU.
    [InlineData(false, false, false, false)]
    [InlineData(false, true, true, false)]
    public void AutoPrefersOpenBlasUnlessItsKernelsAreNarrowerThanTheCpu(bool loads, bool avx512Kernels, bool cpuVector512, bool expected) =>
        Assert.Equal(expected, GemmBackends.PrefersOpenBlas(loads, avx512Kernels, cpuVector512));

    [Fact]
    public void AutoOnThisMachineFollowsTheRule()
    {
        var blas = OpenBlasGemm.TryCreate();
        var rule = GemmBackends.PrefersOpenBlas(blas is not null, blas?.HasAvx512Kernels ?? false, System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated);
        Assert.Equal(rule ? blas!.Name : new ManagedGemm().Name, GemmBackends.Select("auto").Name);
    }

    [Fact]
    public void UnknownBackendNameIsAClearError()
    {
        var e = Assert.Throws<NeuronExplainerException>(() => GemmBackends.Select("cuda"));
        Assert.Contains("NEURONEXPLAINER_GEMM='cuda'", e.Message);
    }

    private static float[] RandomArray(Random random, int length)
    {
        var array = new float[length];
        for (var i = 0; i < length; i++) array[i] = (float)(random.NextDouble() * 2 - 1);
        return array;
    }
}
