namespace NeuronExplainer.Scoring;

/// <summary>
/// Percentile bootstrap interval of the pooled correlation, resampling whole excerpts with
/// replacement (tokens within an excerpt are not independent, so resampling tokens would be too
/// narrow). With strata (e.g. top and random excerpts), each resample draws as many excerpts from each
/// stratum as it has, so every resample keeps the design's mix. Seeded, so the same inputs always give the
/// same interval.
/// </summary>
public static class CorrelationBootstrap
{
    /// <summary>Per-excerpt sums of values centred on the pooled means, so a resample costs O(excerpts).</summary>
    readonly record struct ExcerptSums(int N, double X, double Y, double XX, double YY, double XY,
        double MinX, double MaxX, double MinY, double MaxY);

    /// <summary>
    /// The interval [low, high] at <paramref name="level"/>, or null when there are fewer than two
    /// excerpts (nothing to resample) or when most resamples have no defined correlation. Resamples
    /// whose pooled truth or prediction is constant are left out.
    /// </summary>
    /// <param name="truth">True activations of all excerpts, concatenated.</param>
    /// <param name="predicted">Predicted activations, aligned with <paramref name="truth"/>.</param>
    /// <param name="excerptLengths">Token count of each excerpt, in order; they sum to the length of both spans.</param>
    /// <param name="strata">Stratum of each excerpt (any small non-negative numbers), or empty for one stratum.</param>
    public static (double Low, double High)? Interval(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted,
        ReadOnlySpan<int> excerptLengths, int resamples = 1000, int seed = 0, double level = 0.95, ReadOnlySpan<int> strata = default)
    {
        if (!strata.IsEmpty && strata.Length != excerptLengths.Length)
            throw new ArgumentException($"{strata.Length} strata for {excerptLengths.Length} excerpts");
        if (truth.Length != predicted.Length)
            throw new ArgumentException($"{truth.Length} true activations but {predicted.Length} predicted ones");
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (level is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(level), level, "level must be in (0, 1)");
        if (excerptLengths.Length < 2) return null;

        var sums = Summarize(truth, predicted, excerptLengths);
        // Excerpt indices grouped by stratum; one group holding every excerpt when there are no strata.
        int[][] groups = strata.IsEmpty ? [[.. Enumerable.Range(0, sums.Length)]]
            : [.. strata.ToArray().Select((s, i) => (s, i)).GroupBy(x => x.s).OrderBy(g => g.Key).Select(g => g.Select(x => x.i).ToArray())];
        var random = new Draws(seed);
        var correlations = new List<double>(resamples);
        for (int b = 0; b < resamples; b++)
        {
            // Plain locals, not a summed struct: this loop runs resamples x excerpts times per score.
            int count = 0;
            double x = 0, y = 0, xx = 0, yy = 0, xy = 0;
            double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
            foreach (var group in groups)
                for (int i = 0; i < group.Length; i++)
                {
                    ref readonly var e = ref sums[group[random.Below(group.Length)]];
                    count += e.N; x += e.X; y += e.Y; xx += e.XX; yy += e.YY; xy += e.XY;
                    // Comparisons, not Math.Min/Max, whose NaN and signed-zero care the finite values here do not need.
                    if (e.MinX < minX) minX = e.MinX;
                    if (e.MaxX > maxX) maxX = e.MaxX;
                    if (e.MinY < minY) minY = e.MinY;
                    if (e.MaxY > maxY) maxY = e.MaxY;
                }
            if (count == 0 || minX == maxX || minY == maxY) continue;
            double cov = xy - x * y / count;
            double varX = xx - x * x / count;
            double varY = yy - y * y / count;
            if (varX <= 0 || varY <= 0) continue;
            correlations.Add(Math.Clamp(cov / Math.Sqrt(varX * varY), -1, 1));
        }
        if (correlations.Count * 2 < resamples) return null;

        correlations.Sort();
        double tail = (1 - level) / 2;
        return (Percentile(correlations, tail), Percentile(correlations, 1 - tail));
    }

    static ExcerptSums[] Summarize(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted, ReadOnlySpan<int> lengths)
    {
        double meanX = 0, meanY = 0;
        for (int i = 0; i < truth.Length; i++) { meanX += truth[i]; meanY += predicted[i]; }
        meanX /= Math.Max(1, truth.Length);
        meanY /= Math.Max(1, truth.Length);

        var sums = new ExcerptSums[lengths.Length];
        int offset = 0;
        for (int e = 0; e < lengths.Length; e++)
        {
            int n = lengths[e];
            if (n < 0 || offset + n > truth.Length)
                throw new ArgumentException($"excerpt {e} has length {n}, past the {truth.Length} activations given");
            double x = 0, y = 0, xx = 0, yy = 0, xy = 0;
            double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
            for (int i = offset; i < offset + n; i++)
            {
                double dx = truth[i] - meanX, dy = predicted[i] - meanY;
                x += dx; y += dy; xx += dx * dx; yy += dy * dy; xy += dx * dy;
                minX = Math.Min(minX, truth[i]); maxX = Math.Max(maxX, truth[i]);
                minY = Math.Min(minY, predicted[i]); maxY = Math.Max(maxY, predicted[i]);
            }
            sums[e] = new ExcerptSums(n, x, y, xx, yy, xy, minX, maxX, minY, maxY);
            offset += n;
        }
        if (offset != truth.Length)
            throw new ArgumentException($"excerpt lengths sum to {offset} but {truth.Length} activations were given");
        return sums;
    }

    /// <summary>
    /// Uniform draws from 0..n-1 by SplitMix64 (Steele, Lea and Flood 2014) and a multiply-shift onto the range (a bias
    /// below n / 2^32, nothing for excerpt counts): System.Random's seeded generator cost more than the sums it picks,
    /// and the bootstrap draws resamples x excerpts times for every score.
    /// </summary>
    internal struct Draws(int seed)
    {
        ulong state = unchecked((ulong)seed);

        public int Below(int n)
        {
            ulong z = state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            z ^= z >> 31;
            return (int)(((z >> 32) * (ulong)(uint)n) >> 32);
        }
    }

    /// <summary>Linear interpolation between order statistics (numpy's default percentile).</summary>
    static double Percentile(List<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }
}
