using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Scoring;

public class CorrelationBootstrapTests
{
    /// <summary>40 excerpts of 16 tokens where the prediction is the truth plus noise.</summary>
    static (double[] Truth, double[] Predicted)[] NoisyExcerpts(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 40).Select(_ =>
        {
            double[] truth = [.. Enumerable.Range(0, 16).Select(_ => random.NextDouble() * 4)];
            double[] predicted = [.. truth.Select(t => t + random.NextDouble() * 3)];
            return (truth, predicted);
        })];
    }

    [Fact]
    public void Same_seed_gives_the_same_interval_and_it_brackets_the_estimate()
    {
        var excerpts = NoisyExcerpts(7);
        var a = ScoringFixtures.Score(excerpts, seed: 3);
        var b = ScoringFixtures.Score(excerpts, seed: 3);
        var c = ScoringFixtures.Score(excerpts, seed: 4);
        Assert.Equal(a.EvCorrelationInterval, b.EvCorrelationInterval);
        Assert.NotEqual(a.EvCorrelationInterval, c.EvCorrelationInterval);

        var (low, high) = (a.EvCorrelationInterval![0], a.EvCorrelationInterval[1]);
        Assert.InRange(a.EvCorrelationScore!.Value, low, high);
        Assert.True(high - low is > 0.01 and < 0.3, $"interval [{low}, {high}] has an implausible width");
    }

    [Theory]
    [InlineData(200)]
    [InlineData(201)]
    public void Interval_matches_a_direct_resampling_of_excerpts(int resamples)
    {
        // Recompute the bootstrap naively (concatenate the drawn excerpts, correlate) with the same draws.
        var excerpts = NoisyExcerpts(11);
        double[] truth = [.. excerpts.SelectMany(e => e.Truth)], predicted = [.. excerpts.SelectMany(e => e.Predicted)];
        int[] lengths = [.. excerpts.Select(e => e.Truth.Length)];
        var interval = CorrelationBootstrap.Interval(truth, predicted, lengths, resamples, seed: 5)!.Value;

        var random = new CorrelationBootstrap.Draws(5);
        var naive = new List<double>();
        for (int b = 0; b < resamples; b++)
        {
            var drawn = Enumerable.Range(0, excerpts.Length).Select(_ => excerpts[random.Below(excerpts.Length)]).ToList();
            naive.Add(ActivationScores.Correlation([.. drawn.SelectMany(e => e.Truth)], [.. drawn.SelectMany(e => e.Predicted)]).Value!.Value);
        }
        naive.Sort();
        Assert.Equal(Percentile(naive, 0.025), interval.Low, 9);
        Assert.Equal(Percentile(naive, 0.975), interval.High, 9);
    }

    /// <summary>numpy's default percentile (linear between order statistics), e.g. at 2.5% of 200 values position 4.975.</summary>
    static double Percentile(List<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int below = (int)Math.Floor(position);
        return sorted[below] + (position - below) * (sorted[Math.Min(below + 1, sorted.Count - 1)] - sorted[below]);
    }

    [Fact]
    public void Resamples_with_a_constant_side_are_left_out_as_a_direct_resampling_does()
    {
        const int resamples = 200;
        // Four excerpts: one predicts 0.7 throughout, one has a truth of 0.1 throughout, one is empty and one predicts 1/3
        // throughout. A resample of only the first and the empty one, or of only the second and the empty one, has a constant
        // side and is left out; its variance, from sums centred on the pooled means, need not round to 0, and with these
        // lengths an interval that took it for a defined correlation differs. One of the first and the last is not constant.
        var random = new Random(21);
        double[] Noise(int n) => [.. Enumerable.Range(0, n).Select(_ => random.NextDouble())];
        (double[] Truth, double[] Predicted)[] excerpts =
        [
            (Noise(3), [.. Enumerable.Repeat(0.7, 3)]),
            ([.. Enumerable.Repeat(0.1, 5)], Noise(5)),
            ([], []),
            (Noise(7), [.. Enumerable.Repeat(1 / 3.0, 7)]),
        ];
        double[] truth = [.. excerpts.SelectMany(e => e.Truth)], predicted = [.. excerpts.SelectMany(e => e.Predicted)];
        int[] lengths = [.. excerpts.Select(e => e.Truth.Length)];
        var interval = CorrelationBootstrap.Interval(truth, predicted, lengths, resamples, seed: 9)!.Value;

        var draws = new CorrelationBootstrap.Draws(9);
        var naive = new List<double>();
        int undefined = 0;
        for (int b = 0; b < resamples; b++)
        {
            var drawn = Enumerable.Range(0, excerpts.Length).Select(_ => excerpts[draws.Below(excerpts.Length)]).ToList();
            double[] x = [.. drawn.SelectMany(e => e.Truth)], y = [.. drawn.SelectMany(e => e.Predicted)];
            if (x.Length == 0 || x.Distinct().Count() == 1 || y.Distinct().Count() == 1) undefined++;
            else naive.Add(ActivationScores.Correlation(x, y).Value!.Value);
        }
        Assert.True(undefined > 0, "the excerpts should give some resamples with a constant side");
        naive.Sort();
        Assert.Equal(Percentile(naive, 0.025), interval.Low, 9);
        Assert.Equal(Percentile(naive, 0.975), interval.High, 9);
    }

    [Fact]
    public void A_stratified_interval_draws_each_stratum_separately_as_a_direct_resampling_does()
    {
        // Strata 0 (the first 10 excerpts, "top") and 1 (the other 30, "random"); each resample keeps 10 and 30.
        var excerpts = NoisyExcerpts(13).Select((e, i) => i < 10 ? (Truth: e.Truth.Select(t => t + 6).ToArray(), e.Predicted) : e).ToArray();
        double[] truth = [.. excerpts.SelectMany(e => e.Truth)], predicted = [.. excerpts.SelectMany(e => e.Predicted)];
        int[] lengths = [.. excerpts.Select(e => e.Truth.Length)];
        int[] strata = [.. excerpts.Select((_, i) => i < 10 ? 0 : 1)];
        var interval = CorrelationBootstrap.Interval(truth, predicted, lengths, resamples: 200, seed: 5, strata: strata)!.Value;

        var random = new CorrelationBootstrap.Draws(5);
        var naive = new List<double>();
        for (int b = 0; b < 200; b++)
        {
            var drawn = Enumerable.Range(0, 10).Select(_ => excerpts[random.Below(10)])
                .Concat(Enumerable.Range(0, 30).Select(_ => excerpts[10 + random.Below(30)])).ToList();
            naive.Add(ActivationScores.Correlation([.. drawn.SelectMany(e => e.Truth)], [.. drawn.SelectMany(e => e.Predicted)]).Value!.Value);
        }
        naive.Sort();
        Assert.Equal(naive[4] + 0.975 * (naive[5] - naive[4]), interval.Low, 9);
        Assert.Equal(naive[194] + 0.025 * (naive[195] - naive[194]), interval.High, 9);
        Assert.NotEqual(CorrelationBootstrap.Interval(truth, predicted, lengths, resamples: 200, seed: 5), interval);
        Assert.Throws<ArgumentException>(() => CorrelationBootstrap.Interval(truth, predicted, lengths, strata: [0, 1]));
    }

    [Fact]
    public void Scores_by_stratum_are_the_pooled_correlation_of_each_strata_excerpts_alone()
    {
        var excerpts = NoisyExcerpts(17);
        int[] strata = [.. excerpts.Select((_, i) => i % 3 == 0 ? 1 : 0)];
        var scored = SimulationScorer.Score([.. excerpts.Select(e => ScoringFixtures.Record(e.Truth))], [.. excerpts.Select(e => ScoringFixtures.Simulation(e.Predicted))],
            strata: strata);
        var byStratum = SimulationScorer.ByStratum(scored, strata);
        for (int s = 0; s < 2; s++)
        {
            var members = excerpts.Where((_, i) => strata[i] == s).ToList();
            Assert.Equal(ActivationScores.Correlation([.. members.SelectMany(e => e.Truth)], [.. members.SelectMany(e => e.Predicted)]).Value!.Value,
                byStratum[s].Value!.Value, 12);
        }
        Assert.Throws<ArgumentException>(() => SimulationScorer.ByStratum(scored, [0, 1]));
    }

    [Fact]
    public void Draws_are_uniform_over_the_range_and_stay_in_it()
    {
        foreach (int n in new[] { 1, 7, 40, 1000 })
        {
            var draws = new CorrelationBootstrap.Draws(n);
            var counts = new int[n];
            int total = 2000 * n;
            for (int i = 0; i < total; i++) counts[draws.Below(n)]++;
            // Pearson's chi-square against uniform: with n - 1 degrees of freedom, its mean is n - 1 and its standard
            // deviation sqrt(2 (n - 1)); a uniform generator stays within six of them.
            double expected = total / (double)n;
            double chi = counts.Sum(c => (c - expected) * (c - expected) / expected);
            Assert.True(chi <= n - 1 + 6 * Math.Sqrt(2.0 * (n - 1)), $"n = {n}: chi-square {chi:0.0}; counts {string.Join(", ", counts.Take(10))}");
        }
        var a = new CorrelationBootstrap.Draws(3);
        var b = new CorrelationBootstrap.Draws(4);
        Assert.NotEqual(Enumerable.Range(0, 20).Select(_ => a.Below(1000)).ToList(), Enumerable.Range(0, 20).Select(_ => b.Below(1000)).ToList());
    }

    [Fact]
    public void One_excerpt_has_no_interval()
    {
        Assert.Null(CorrelationBootstrap.Interval([1, 2, 3], [1, 3, 2], [3]));
        Assert.Null(ScoringFixtures.Score([([1, 2, 3], [1, 3, 2])]).EvCorrelationInterval);
    }

    [Fact]
    public void Lengths_that_do_not_cover_the_activations_are_refused() =>
        Assert.Throws<ArgumentException>(() => CorrelationBootstrap.Interval([1, 2, 3, 4], [1, 2, 3, 4], [2, 1]));
}
