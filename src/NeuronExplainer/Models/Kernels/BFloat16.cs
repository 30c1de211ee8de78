using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// bfloat16 as raw bits (<see cref="ushort"/>): the top 16 bits of an IEEE float32, so widening is a shift and
/// narrowing rounds away the low 16 bits of the mantissa (8 significant bits remain: relative step 2^-8).
/// </summary>
public static class BFloat16
{
    /// <summary>float32 to bf16, rounded to nearest, ties to even; NaN stays a (quiet) NaN, infinities stay infinite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Round(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x0040);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Widen(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Rounds every value (<see cref="Round"/>) into a new array.</summary>
    public static ushort[] Narrow(ReadOnlySpan<float> values)
    {
        var result = GC.AllocateUninitializedArray<ushort>(values.Length);
        for (var i = 0; i < values.Length; i++) result[i] = Round(values[i]);
        return result;
    }

    /// <summary>Widens <paramref name="bits"/> into <paramref name="destination"/> (same length), eight at a time with AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Widen(ReadOnlySpan<ushort> bits, Span<float> destination)
    {
        if (destination.Length < bits.Length) throw new ArgumentException($"destination holds {destination.Length} values, {bits.Length} needed");
        var i = 0;
        if (Avx2.IsSupported)
        {
            ref var source = ref MemoryMarshal.GetReference(bits);
            var target = MemoryMarshal.Cast<float, uint>(destination);
            ref var dst = ref MemoryMarshal.GetReference(target);
            for (; i + 8 <= bits.Length; i += 8)
            {
                var words = Vector128.LoadUnsafe(ref source, (nuint)i);
                Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(words).AsUInt32(), 16).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < bits.Length; i++) destination[i] = Widen(bits[i]);
    }

    /// <summary>
    /// Whether the CPU reports AVX-512 BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5): the instructions
    /// (VDPBF16PS) that multiply bf16 pairs with float32 accumulation.
    /// </summary>
    public static bool CpuHasAvx512Bf16 => X86Base.IsSupported && X86Base.CpuId(0, 0).Eax >= 7 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
}
