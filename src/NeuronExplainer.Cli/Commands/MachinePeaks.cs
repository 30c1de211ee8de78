using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// This machine's measured peak float32 FLOP/s and memory read bandwidth, the two limits of <c>bench</c>'s roofline.
/// Both are measured, not taken from a data sheet: on a shared machine they are what the process can get now.
/// </summary>
internal sealed record MachinePeaks(double Gflops, string FlopsMethod, double GigabytesPerSecond, string BandwidthMethod)
{
    private const int Accumulators = 8;

    public static MachinePeaks Measure(int threads)
    {
        const int width = 16, iterations = 10_000_000;
        FmaLoop(1000);
        var clock = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => FmaLoop(iterations));
        var flops = 2.0 * width * Accumulators * iterations * threads / clock.Elapsed.TotalSeconds;

        // Larger than any cache: each thread sums its share of a 512 MB array, three passes after a first touch.
        var data = new float[128 << 20];
        data.AsSpan().Fill(1f);
        const int passes = 3;
        clock.Restart();
        for (var pass = 0; pass < passes; pass++)
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
            {
                long start = (long)data.Length * part / threads, end = (long)data.Length * (part + 1) / threads;
                TensorPrimitives.Sum(data.AsSpan((int)start, (int)(end - start)));
            });
        var bytesPerSecond = 4.0 * data.Length * passes / clock.Elapsed.TotalSeconds;
        return new MachinePeaks(flops / 1e9, $"{Accumulators} independent 512-bit FMA chains{(Vector512.IsHardwareAccelerated ? "" : " (as 256-bit halves)")} on {threads} threads",
            bytesPerSecond / 1e9, $"TensorPrimitives.Sum over a 512 MB array on {threads} threads, {passes} passes");
    }

    /// <summary>
    /// Independent FMA chains, enough to cover the FMA latency on two ports; Vector512 runs as two 256-bit halves
    /// where AVX-512 is missing (16 chains of 256 bits then).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(int iterations)
    {
        var a = Vector512.Create(0.999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (var i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b); c2 = Vector512.FusedMultiplyAdd(c2, a, b);
            c3 = Vector512.FusedMultiplyAdd(c3, a, b); c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7);
    }
}
