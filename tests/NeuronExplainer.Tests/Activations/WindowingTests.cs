using FsCheck;
using FsCheck.Fluent;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Tests.Activations;

public sealed class WindowingTests
{
    [Theory]
    [InlineData(128, 64, new[] { 64, 64 })]
    [InlineData(160, 64, new[] { 64, 64, 32 })]
    [InlineData(159, 64, new[] { 64, 64 })]
    [InlineData(31, 64, new int[0])]
    [InlineData(32, 64, new[] { 32 })]
    [InlineData(7, 5, new[] { 5 })]
    [InlineData(8, 5, new[] { 5, 3 })]
    public void WindowsAreConsecutiveAndAShortTailNeedsHalfAWindow(int tokens, int seqLen, int[] lengths)
    {
        var ids = Enumerable.Range(0, tokens).ToArray();
        var windows = Windowing.Cut(ids, seqLen).ToList();
        Assert.Equal(lengths, windows.Select(w => w.Length));
        Assert.Equal(ids.Take(lengths.Sum()), windows.SelectMany(w => w));
    }

    [Fact]
    public void BatcherGroupsWindowsOfEqualLength()
    {
        var batcher = new WindowBatcher(2);
        Assert.Null(batcher.Add(new TokenWindow(0, new int[4])));
        Assert.Null(batcher.Add(new TokenWindow(1, new int[3])));
        var full = batcher.Add(new TokenWindow(2, new int[4]));
        Assert.Equal([0L, 2L], full!.Select(w => w.Id));
        Assert.Null(batcher.Add(new TokenWindow(3, new int[2])));
        var rest = batcher.Flush().ToList();
        Assert.Equal([[1L], [3L]], rest.Select(b => b.Select(w => w.Id).ToArray()));
        Assert.Empty(batcher.Flush());
    }

    [Fact]
    public void MomentsMatchADirectComputationForAnyBatching()
    {
        Prop.ForAll(
            Gen.Choose(1, 400).SelectMany(n => Gen.Choose(1, 50).Select(b => (n, b))).ToArbitrary(),
            ((int Count, int Batch) p) =>
            {
                const int width = 3;
                var random = new Random(p.Count * 31 + p.Batch);
                // A large offset and small spread: naive sums of powers would lose every digit here.
                var values = Enumerable.Range(0, p.Count * width).Select(i => (float)(1e4 + (i % width) + random.NextDouble() * random.NextDouble() * 3)).ToArray();
                var moments = new RunningMoments(width);
                for (int start = 0; start < p.Count; start += p.Batch)
                    moments.AddBatch(values, Enumerable.Range(start, Math.Min(p.Batch, p.Count - start)).ToArray());
                for (int n = 0; n < width; n++)
                {
                    var column = Enumerable.Range(0, p.Count).Select(i => (double)values[i * width + n]).ToArray();
                    double mean = column.Average();
                    double m2 = column.Sum(x => Math.Pow(x - mean, 2)) / p.Count;
                    double m3 = column.Sum(x => Math.Pow(x - mean, 3)) / p.Count;
                    double m4 = column.Sum(x => Math.Pow(x - mean, 4)) / p.Count;
                    var (gotMean, variance, skewness, kurtosis) = moments.Summary(n);
                    Assert.Equal(mean, gotMean, 1e-3);
                    Assert.Equal(m2, variance, Math.Max(1e-6, m2 * 2e-3));
                    if (m2 > 1e-6 && p.Count > 2)
                    {
                        Assert.Equal(m3 / Math.Pow(m2, 1.5), skewness!.Value, 1e-2);
                        Assert.Equal(m4 / (m2 * m2) - 3, kurtosis!.Value, 1e-2);
                    }
                }
            }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ConstantNeuronHasNoSkewnessOrKurtosis()
    {
        var moments = new RunningMoments(1);
        moments.AddBatch(new float[] { 2, 2, 2 }, [0, 1, 2]);
        Assert.Equal((2.0, 0.0, (double?)null, (double?)null), moments.Summary(0));
    }
}
