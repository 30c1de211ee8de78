using System.Runtime.InteropServices;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Tests.Engine;

/// <summary>bf16 rounding, widening, the bf16 products of both backends, and bf16 loading.</summary>
public class BFloat16Tests
{
    [Fact]
    public void RoundsToNearestEvenAndKeepsSpecialValues()
    {
        // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: ties go to the even mantissa (1); 1 + 3 * 2^-8 lies
        // halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even), so it goes up.
        Assert.Equal(1f, BFloat16.Widen(BFloat16.Round(1f + MathF.Pow(2, -8))));
        Assert.Equal(1f + MathF.Pow(2, -6), BFloat16.Widen(BFloat16.Round(1f + 3 * MathF.Pow(2, -8))));
        Assert.Equal(1f + MathF.Pow(2, -7), BFloat16.Widen(BFloat16.Round(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20))));
        Assert.Equal(-2.5f, BFloat16.Widen(BFloat16.Round(-2.5f)));
        Assert.True(float.IsNaN(BFloat16.Widen(BFloat16.Round(float.NaN))));
        // A NaN whose payload sits only in the low bits must not round to infinity.
        Assert.True(float.IsNaN(BFloat16.Widen(BFloat16.Round(BitConverter.UInt32BitsToSingle(0x7F80_0001)))));
        Assert.Equal(float.PositiveInfinity, BFloat16.Widen(BFloat16.Round(float.PositiveInfinity)));
        Assert.Equal(float.NegativeInfinity, BFloat16.Widen(BFloat16.Round(float.NegativeInfinity)));
        // The largest finite float rounds past bf16's largest finite value: to infinity, as IEEE rounding does.
        Assert.Equal(float.PositiveInfinity, BFloat16.Widen(BFloat16.Round(float.MaxValue)));

        var random = new Random(3);
        for (var i = 0; i < 10_000; i++)
        {
            var x = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-30, 30)));
            // Nearest: no closer bf16 on either side (the neighbours one bf16 step away), so within bf16's unit roundoff 2^-8.
            var bits = BFloat16.Round(x);
            var rounded = BFloat16.Widen(bits);
            Assert.True(Math.Abs(rounded - x) <= Math.Abs(x) * Math.Pow(2, -8), $"{x} rounded to {rounded}");
            Assert.True(Math.Abs(rounded - x) <= Math.Abs(BFloat16.Widen((ushort)(bits + 1)) - x), $"{x}: {rounded} is not the nearest");
            Assert.True(Math.Abs(rounded - x) <= Math.Abs(BFloat16.Widen((ushort)(bits - 1)) - x), $"{x}: {rounded} is not the nearest");
        }
    }

    [Fact]
    public void VectorWideningEqualsScalarForEveryLength()
    {
        var random = new Random(4);
        for (var length = 0; length < 40; length++)
        {
            var bits = Enumerable.Range(0, length).Select(_ => (ushort)random.Next(65536)).ToArray();
            var widened = new float[length];
            BFloat16.Widen(bits, widened);
            var expected = bits.Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16)).ToArray();
            Assert.Equal(MemoryMarshal.Cast<float, uint>(expected).ToArray(), MemoryMarshal.Cast<float, uint>(widened).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(GemmTests.Backends), MemberType = typeof(GemmTests))]
    public void Bf16ProductEqualsTheFloatProductOfTheWidenedWeights(string backend)
    {
        var gemm = GemmBackends.Select(backend);
        var random = new Random(9);
        // The last shape spans several of OpenBLAS's widened panels (2^20 floats: 52 rows of 20,000).
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 33, 5), (13, 65, 300), (65, 8, 65), (200, 70, 513), (3, 130, 20_000) })
        foreach (var accumulate in new[] { false, true })
        {
            int lda = k + 3, ldb = k + 1, ldc = n + 2;
            var a = Enumerable.Range(0, m * lda).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            var bits = BFloat16.Narrow(Enumerable.Range(0, n * ldb).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
            var widened = new float[bits.Length];
            BFloat16.Widen(bits, widened);
            var c = Enumerable.Range(0, m * ldc).Select(_ => (float)random.NextDouble()).ToArray();
            var expected = (float[])c.Clone();
            gemm.Multiply(false, true, m, n, k, a, lda, widened, ldb, expected, ldc, accumulate);
            gemm.MultiplyBf16(m, n, k, a, lda, bits, ldb, c, ldc, accumulate);
            // The same float32 products in the same kernel: equal up to the summation order of another panel split.
            EngineFixtures.AssertClose(expected, c, $"{backend} {m}x{n}x{k} accumulate={accumulate}", tolerance: 1e-5f);
        }
    }

    [Fact]
    public void Bf16CheckpointKeepsItsBitsAndFloat32OnesAreRoundedToNearestEven()
    {
        var llama = ModelLoader.LoadWeights(EngineFixtures.Path("llama-tiny"), WeightDType.BFloat16);
        using (var file = SafeTensorsFile.Open(EngineFixtures.Path("llama-tiny/model-00001-of-00002.safetensors")))
        {
            Assert.Equal("BF16", file.Tensors["model.embed_tokens.weight"].DType);
            Assert.Equal(file.ReadBFloat16Bits("model.embed_tokens.weight"), llama.Embedding.Bits);
        }
        Assert.Equal(WeightDType.BFloat16, llama.DType);
        Assert.All(llama.Layers, l => Assert.Equal(WeightDType.BFloat16, l.MlpOut.DType));

        var single = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"));
        var half = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"), WeightDType.BFloat16);
        Assert.Equal(BFloat16.Narrow(single.Embedding.Single), half.Embedding.Bits);
        Assert.Equal(BFloat16.Narrow(single.Layers[1].MlpIn.Single), half.Layers[1].MlpIn.Bits);
        // Norms, biases and position embeddings stay float32.
        Assert.Equal(single.Layers[1].MlpInBias, half.Layers[1].MlpInBias);
        Assert.Equal(single.PositionEmbedding, half.PositionEmbedding);
        Assert.True(half.Bytes < single.Bytes * 0.6, $"bf16 weights take {half.Bytes} bytes, float32 {single.Bytes}");
    }

    [Fact]
    public void Bf16ModelSaysWhichProductPathRuns()
    {
        var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"), WeightDType.BFloat16);
        using var managed = new Transformer("gpt2-tiny", weights, new IdTokenizer(weights.Config.VocabSize), new ManagedGemm());
        Assert.Equal(WeightDType.BFloat16, managed.Info.DType);
        Assert.Contains(BFloat16.CpuHasAvx512Bf16 ? "has AVX-512 BF16" : "lacks AVX-512 BF16", managed.PrecisionNotice);
        Assert.Contains("as the managed SIMD", managed.PrecisionNotice);
        using var single = new Transformer("gpt2-tiny", ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny")), new IdTokenizer(50));
        Assert.Null(single.PrecisionNotice);
    }
}
