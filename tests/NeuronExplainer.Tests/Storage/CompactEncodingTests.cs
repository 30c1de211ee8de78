using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Storage;

public class CompactEncodingTests
{
    static double[] RoundTrip(double[] values)
    {
        var writer = new CompactWriter();
        writer.Values(values);
        var back = CompactReader.Decompress(writer.ToCompressed()).Values();
        return back;
    }

    public static TheoryData<double[]> Lists => new()
    {
        // Float32 values, exactly.
        new[] { 0.5, -0.0, 0.0, 1e30, (double)0.1f, (double)float.Epsilon, double.PositiveInfinity },
        // The floats' shortest decimals, as collection writes activations.
        new[] { LayerSampler.ShortestDouble(0.1f), LayerSampler.ShortestDouble(-3.3333333f), LayerSampler.ShortestDouble(1e-20f), 2.0 },
        // Doubles no float holds, with few distinct values (a calibrated 0..10 simulation) and with many.
        new[] { 0.1, 0.1, 0.1, 0.37 * 4.2 + 0.01, 0.1, 0.37 * 4.2 + 0.01, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1 },
        Enumerable.Range(0, 300).Select(i => Math.PI * i / 7).ToArray(),
        new[] { double.NaN, 1e-320, double.MaxValue, -double.Epsilon },
        Array.Empty<double>(),
    };

    [Theory]
    [MemberData(nameof(Lists))]
    public void Every_list_of_doubles_reads_back_to_the_bit(double[] values) =>
        Assert.Equal(values.Select(BitConverter.DoubleToInt64Bits), RoundTrip(values).Select(BitConverter.DoubleToInt64Bits));

    [Fact]
    public void The_shortest_decimals_of_random_floats_read_back_to_the_bit_whichever_form_they_take()
    {
        var random = new Random(9);
        var floats = Enumerable.Range(0, 200_000).Select(_ => BitConverter.Int32BitsToSingle(random.Next()) * (random.Next(2) == 0 ? 1 : -1))
            .Where(float.IsFinite).ToArray();
        foreach (var chunk in floats.Chunk(64))
        {
            double[] values = [.. chunk.Select(LayerSampler.ShortestDouble)];
            Assert.Equal(values.Select(BitConverter.DoubleToInt64Bits), RoundTrip(values).Select(BitConverter.DoubleToInt64Bits));
        }
        // Activations' magnitudes take the fast form nearly always.
        var activations = Enumerable.Range(0, 10_000).Select(_ => (float)(random.NextDouble() * 8 - 2)).ToArray();
        int decimals = 0;
        Assert.True(activations.Count(f => ValueForms.FastShortest(f, ref decimals) == LayerSampler.ShortestDouble(f)) > 9_990);
    }

    [Fact]
    public void Where_the_fast_reading_starts_its_search_does_not_change_what_it_reads()
    {
        // Floats of every exponent, activations' magnitudes, and the edges (smallest subnormal, largest finite, 2^-126).
        var random = new Random(11);
        float[] floats = [.. Enumerable.Range(0, 50_000).Select(_ => BitConverter.Int32BitsToSingle(random.Next())).Where(float.IsFinite),
            .. Enumerable.Range(0, 5_000).Select(_ => (float)(random.NextDouble() * 8 - 2)), float.Epsilon, float.MaxValue, 1.17549435E-38f, 0.1f, 3f];
        foreach (float f in floats)
        {
            int fromBottom = 0;
            long expected = BitConverter.DoubleToInt64Bits(ValueForms.FastShortest(f, ref fromBottom));
            foreach (int start in new[] { 1, 4, 9, 15, 22, 40 })
            {
                int decimals = start;
                Assert.Equal(expected, BitConverter.DoubleToInt64Bits(ValueForms.FastShortest(f, ref decimals)));
                if (!double.IsNaN(BitConverter.Int64BitsToDouble(expected))) Assert.Equal(fromBottom, decimals);
            }
        }
    }

    [Fact]
    public void Activations_take_four_bytes_and_repeated_values_a_dictionary()
    {
        var random = new Random(3);
        var activations = Enumerable.Range(0, 1000).Select(_ => LayerSampler.ShortestDouble((float)(random.NextDouble() * 2 - 1))).ToArray();
        var w = new CompactWriter();
        w.Values(activations);
        Assert.InRange(w.Written.Length, 4000, 4010);

        var calibrated = Enumerable.Range(0, 1000).Select(i => 0.37 * (i % 5) + 0.013).ToArray();
        w = new CompactWriter();
        w.Values(calibrated);
        Assert.InRange(w.Written.Length, 1000, 1050);
    }

    [Fact]
    public void A_truncated_blob_is_damaged_not_read_short()
    {
        var w = new CompactWriter();
        w.Values([1.5, 2.5, 3.5]);
        w.String("cats");
        var bytes = w.Written.ToArray()[..^2];
        var reader = new CompactReader(bytes);
        reader.Values();
        Assert.Contains("ends early", Assert.Throws<InvalidDataException>(() => reader.String()).Message);
    }
}
