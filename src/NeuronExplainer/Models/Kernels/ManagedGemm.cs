using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Managed SGEMM for machines without OpenBLAS: the usual packed, cache-blocked loop nest around an
/// 8x32 register-tile micro-kernel written with Vector512 (two 512-bit columns, sixteen accumulators;
/// the JIT splits it into Vector256 halves where AVX-512 is missing). Large products are split over
/// the cores by columns (or rows when there are more rows), each worker packing its own panels, so
/// there is no barrier inside the product.
/// </summary>
public sealed unsafe class ManagedGemm(int maxThreads) : IGemm
{
    private const int MR = 8, NR = 32;
    private const int KC = 256, MC = 128, NC = 2048;

    /// <summary>Below this many multiply-adds a product runs on the calling thread (thread hand-off costs more).</summary>
    private const long ParallelThreshold = 1L << 21;

    public ManagedGemm() : this(Environment.ProcessorCount) { }

    public string Name => Vector512.IsHardwareAccelerated ? "managed SIMD (Vector512)" : "managed SIMD (Vector512 emulated on Vector256)";

    public void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate)
    {
        GemmArguments.Check(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (Trivial(m, n, k, c, ldc, accumulate)) return;
        fixed (float* pa = a, pb = b, pc = c)
            Run(new Job(transposeA, transposeB, pa, lda, pb, null, ldb, pc, ldc, k, accumulate), m, n, k);
    }

    /// <summary>
    /// The bf16 product: B's panels are widened to float32 while they are packed (each KC x NC panel once, then
    /// reused for every row block of A), so the micro-kernel and its float32 accumulation are the sgemm's.
    /// </summary>
    public void MultiplyBf16(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, int ldb, Span<float> c, int ldc, bool accumulate)
    {
        GemmArguments.Check(false, true, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (Trivial(m, n, k, c, ldc, accumulate)) return;
        fixed (float* pa = a, pc = c)
        fixed (ushort* pb = b)
            Run(new Job(false, true, pa, lda, null, pb, ldb, pc, ldc, k, accumulate), m, n, k);
    }

    /// <summary>Handles empty products (nothing to do, or C cleared when k is 0); true when nothing is left.</summary>
    private static bool Trivial(int m, int n, int k, Span<float> c, int ldc, bool accumulate)
    {
        if (m == 0 || n == 0) return true;
        if (k != 0) return false;
        if (!accumulate) for (var i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
        return true;
    }

    private void Run(Job job, int m, int n, int k)
    {
        var threads = (long)m * n * k < ParallelThreshold ? 1 : maxThreads;
        if (threads <= 1)
        {
            job.Run(0, m, 0, n);
            return;
        }
        // Split the larger dimension in tile-aligned parts, one per worker.
        var splitColumns = n >= m;
        var extent = splitColumns ? n : m;
        var unit = splitColumns ? NR : MR;
        var units = (extent + unit - 1) / unit;
        var parts = Math.Min(threads, units);
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            var start = (int)Math.Min(extent, (long)units * part / parts * unit);
            var end = (int)Math.Min(extent, (long)units * (part + 1) / parts * unit);
            if (splitColumns) job.Run(0, m, start, end);
            else job.Run(start, end, 0, n);
        });
    }

    /// <summary>One product's operands (B as float32 <paramref name="b"/> or bf16 <paramref name="bBits"/>); runs the blocked loop nest over a sub-rectangle of C.</summary>
    private readonly struct Job(bool transA, bool transB, float* a, int lda, float* b, ushort* bBits, int ldb, float* c, int ldc, int k, bool accumulate)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int rowStart, int rowEnd, int colStart, int colEnd)
        {
            var buffers = PackBuffers.Rent();
            try
            {
                RunBlocks(buffers, rowStart, rowEnd, colStart, colEnd);
            }
            finally
            {
                PackBuffers.Return(buffers);
            }
        }

        private void RunBlocks(PackBuffers buffers, int rowStart, int rowEnd, int colStart, int colEnd)
        {
            for (var jc = colStart; jc < colEnd; jc += NC)
            {
                var nc = Math.Min(NC, colEnd - jc);
                for (var pc = 0; pc < k; pc += KC)
                {
                    var kc = Math.Min(KC, k - pc);
                    var add = accumulate || pc > 0;
                    PackB(buffers.B, pc, kc, jc, nc);
                    for (var ic = rowStart; ic < rowEnd; ic += MC)
                    {
                        var mc = Math.Min(MC, rowEnd - ic);
                        PackA(buffers.A, ic, mc, pc, kc);
                        for (var jr = 0; jr < nc; jr += NR)
                        {
                            var nr = Math.Min(NR, nc - jr);
                            var bp = buffers.B + (long)jr * kc;
                            for (var ir = 0; ir < mc; ir += MR)
                            {
                                var mr = Math.Min(MR, mc - ir);
                                var cp = c + (long)(ic + ir) * ldc + jc + jr;
                                if (mr == MR && nr == NR)
                                    MicroKernel(kc, buffers.A + (long)ir * kc, bp, cp, ldc, add);
                                else
                                    EdgeTile(kc, buffers.A + (long)ir * kc, bp, cp, ldc, mr, nr, add, buffers.Tile);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>Packs op(B)[pc.., jc..] into NR-wide slivers, row after row, zero-padding the last sliver (bf16 B widened on the way).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackB(float* dst, int pc, int kc, int jc, int nc)
        {
            for (var jr = 0; jr < nc; jr += NR)
            {
                var width = Math.Min(NR, nc - jr);
                var sliver = dst + (long)jr * kc;
                for (var p = 0; p < kc; p++)
                {
                    var row = sliver + p * NR;
                    if (bBits is not null)
                    {
                        var src = bBits + (long)(jc + jr) * ldb + pc + p;
                        for (var j = 0; j < width; j++) row[j] = BFloat16.Widen(src[(long)j * ldb]);
                    }
                    else if (!transB)
                    {
                        new ReadOnlySpan<float>(b + (long)(pc + p) * ldb + jc + jr, width).CopyTo(new Span<float>(row, width));
                    }
                    else
                    {
                        var src = b + (long)(jc + jr) * ldb + pc + p;
                        for (var j = 0; j < width; j++) row[j] = src[(long)j * ldb];
                    }
                    if (width < NR) new Span<float>(row + width, NR - width).Clear();
                }
            }
        }

        /// <summary>Packs op(A)[ic.., pc..] into MR-tall slivers, column after column, zero-padding the last.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackA(float* dst, int ic, int mc, int pc, int kc)
        {
            for (var ir = 0; ir < mc; ir += MR)
            {
                var height = Math.Min(MR, mc - ir);
                var sliver = dst + (long)ir * kc;
                if (!transA)
                {
                    for (var i = 0; i < height; i++)
                    {
                        var src = a + (long)(ic + ir + i) * lda + pc;
                        for (var p = 0; p < kc; p++) sliver[p * MR + i] = src[p];
                    }
                }
                else
                {
                    for (var p = 0; p < kc; p++)
                        new ReadOnlySpan<float>(a + (long)(pc + p) * lda + ic + ir, height).CopyTo(new Span<float>(sliver + p * MR, height));
                }
                if (height < MR)
                    for (var p = 0; p < kc; p++) new Span<float>(sliver + p * MR + height, MR - height).Clear();
            }
        }

        private static void EdgeTile(int kc, float* ap, float* bp, float* cp, int ldc, int mr, int nr, bool add, float* tile)
        {
            MicroKernel(kc, ap, bp, tile, NR, add: false);
            for (var i = 0; i < mr; i++)
            {
                var dst = new Span<float>(cp + (long)i * ldc, nr);
                var src = new ReadOnlySpan<float>(tile + i * NR, nr);
                if (add) System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
                else src.CopyTo(dst);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void MicroKernel(int kc, float* ap, float* bp, float* cp, int ldc, bool add)
        {
            Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
            Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
            for (var p = 0; p < kc; p++, ap += MR, bp += NR)
            {
                var b0 = Vector512.Load(bp);
                var b1 = Vector512.Load(bp + 16);
                var a0 = Vector512.Create(ap[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector512.Create(ap[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector512.Create(ap[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector512.Create(ap[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(ap[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(ap[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                var a6 = Vector512.Create(ap[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                var a7 = Vector512.Create(ap[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            }
            StoreRow(cp, c00, c01, add); cp += ldc;
            StoreRow(cp, c10, c11, add); cp += ldc;
            StoreRow(cp, c20, c21, add); cp += ldc;
            StoreRow(cp, c30, c31, add); cp += ldc;
            StoreRow(cp, c40, c41, add); cp += ldc;
            StoreRow(cp, c50, c51, add); cp += ldc;
            StoreRow(cp, c60, c61, add); cp += ldc;
            StoreRow(cp, c70, c71, add);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRow(float* cp, Vector512<float> left, Vector512<float> right, bool add)
        {
            if (add)
            {
                left += Vector512.Load(cp);
                right += Vector512.Load(cp + 16);
            }
            left.Store(cp);
            right.Store(cp + 16);
        }
    }

    /// <summary>
    /// Packing buffers, pooled (one per concurrently running worker, whichever pool thread it is) so a warm
    /// product allocates nothing; pinned and aligned to 64 bytes so the micro-kernel's vector loads never
    /// straddle cache lines.
    /// </summary>
    private sealed class PackBuffers
    {
        private static readonly ConcurrentStack<PackBuffers> Pool = new();

        private readonly float[] _storage;

        private PackBuffers()
        {
            const int aSize = MC * KC, bSize = KC * NC, tileSize = MR * NR, align = 16;
            _storage = GC.AllocateUninitializedArray<float>(aSize + bSize + tileSize + 3 * align, pinned: true);
            var basePtr = (float*)Unsafe.AsPointer(ref _storage[0]);
            var aligned = (float*)(((nint)basePtr + 63) & ~(nint)63);
            A = aligned;
            B = A + aSize + align;
            Tile = B + bSize + align;
        }

        public float* A { get; }
        public float* B { get; }
        public float* Tile { get; }

        public static PackBuffers Rent() => Pool.TryPop(out var buffers) ? buffers : new PackBuffers();

        public static void Return(PackBuffers buffers) => Pool.Push(buffers);
    }
}
