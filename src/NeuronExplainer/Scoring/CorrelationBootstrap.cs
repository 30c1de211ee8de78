using System.Runtime.Intrinsics;

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
    /// <summary>
    /// Per-excerpt sums of values centred on the pooled means, so a resample costs O(excerpts). Whether a resample's truth
    /// (high half) or prediction (low half) is constant is told by bitwise AND and OR of the keys of the excerpts drawn:
    /// a constant excerpt's half holds the id of its value in both keys, a varying one's holds none in AND and all bits in
    /// OR, and an empty one's all bits in AND and none in OR (it changes nothing); a half is constant exactly where AND and
    /// OR agree. Integer operations in place of four floating-point comparisons a draw, which were a third of its cost.
    /// The sums of x and y, and of their squares, go in pairs, one vector addition each, with each sum still added in the
    /// order it would be alone.
    /// </summary>
    readonly record struct ExcerptSums(int N, Vector128<double> Linear, Vector128<double> Square, double XY, long AndKey, long OrKey);

    /// <summary>Sums of one resample.</summary>
    struct Resample
    {
        public int Count;
        public Vector128<double> Linear, Square;
        public double XY;
        public long And, Or;

        public static Resample Empty => new() { And = -1 };

        public void Add(in ExcerptSums e)
        {
            Count += e.N;
            Linear += e.Linear;
            Square += e.Square;
            XY += e.XY;
            And &= e.AndKey; Or |= e.OrKey;
        }

        /// <summary>The pooled correlation, or null when it is not defined (no tokens, or a constant truth or prediction).</summary>
        public readonly double? Correlation()
        {
            long agree = ~(And ^ Or);
            if (Count == 0 || (agree & HighHalf) == HighHalf || (agree & LowHalf) == LowHalf) return null;
            double x = Linear[0], y = Linear[1];
            double cov = XY - x * y / Count;
            double varX = Square[0] - x * x / Count;
            double varY = Square[1] - y * y / Count;
            if (varX <= 0 || varY <= 0) return null;
            return Math.Clamp(cov / Math.Sqrt(varX * varY), -1, 1);
        }
    }

    /// <summary>All bits of a key's half: a half is built in the low one and shifted up for the truth.</summary>
    const long LowHalf = 0xFFFFFFFF, HighHalf = LowHalf << 32;

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
        var correlations = new List<double>(resamples);
        // Two resamples at once, each from its own place in the one stream of draws (resample b starts at draw b x excerpts):
        // their sums are independent chains the processor overlaps, and each is summed in the order one alone would be.
        // An odd count's last pair draws one resample too many, which is dropped.
        for (int b = 0; b < resamples; b += 2)
        {
            var first = new Draws(seed, (long)b * sums.Length);
            var second = new Draws(seed, (long)(b + 1) * sums.Length);
            Resample one = Resample.Empty, two = Resample.Empty;
            foreach (var group in groups)
                for (int i = 0; i < group.Length; i++)
                {
                    one.Add(in sums[group[first.Below(group.Length)]]);
                    two.Add(in sums[group[second.Below(group.Length)]]);
                }
            if (one.Correlation() is { } r1) correlations.Add(r1);
            if (b + 1 < resamples && two.Correlation() is { } r2) correlations.Add(r2);
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
        var valueIds = new Dictionary<double, long>();
        int offset = 0;
        for (int e = 0; e < lengths.Length; e++)
        {
            int n = lengths[e];
            if (n < 0 || offset + n > truth.Length)
                throw new ArgumentException($"excerpt {e} has length {n}, past the {truth.Length} activations given");
            double x = 0, y = 0, xx = 0, yy = 0, xy = 0;
            for (int i = offset; i < offset + n; i++)
            {
                double dx = truth[i] - meanX, dy = predicted[i] - meanY;
                x += dx; y += dy; xx += dx * dx; yy += dy * dy; xy += dx * dy;
            }
            var (andX, orX) = Keys(truth.Slice(offset, n), valueIds);
            var (andY, orY) = Keys(predicted.Slice(offset, n), valueIds);
            sums[e] = new ExcerptSums(n, Vector128.Create(x, y), Vector128.Create(xx, yy), xy, andX << 32 | andY, orX << 32 | orY);
            offset += n;
        }
        if (offset != truth.Length)
            throw new ArgumentException($"excerpt lengths sum to {offset} but {truth.Length} activations were given");
        return sums;
    }

    /// <summary>An excerpt half's AND and OR keys (see <see cref="ExcerptSums"/>): ids are small, so never all 32 bits.</summary>
    static (long And, long Or) Keys(ReadOnlySpan<double> values, Dictionary<double, long> ids)
    {
        if (values.IsEmpty) return (LowHalf, 0);
        double first = values[0];
        foreach (double v in values)
            if (v != first) return (0, LowHalf);
        // Adding zero makes -0 into +0, which compare equal, so both take one id.
        double key = first + 0.0;
        if (!ids.TryGetValue(key, out long id)) ids.Add(key, id = ids.Count);
        return (id, id);
    }

    /// <summary>
    /// Uniform draws from 0..n-1 by SplitMix64 (Steele, Lea and Flood 2014) and a multiply-shift onto the range (a bias
    /// below n / 2^32, nothing for excerpt counts): System.Random's seeded generator cost more than the sums it picks,
    /// and the bootstrap draws resamples x excerpts times for every score.
    /// </summary>
    internal struct Draws(int seed, long skip = 0)
    {
        // The state after skip draws: each draw adds the same odd constant.
        ulong state = unchecked((ulong)seed + (ulong)skip * 0x9E3779B97F4A7C15);

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
