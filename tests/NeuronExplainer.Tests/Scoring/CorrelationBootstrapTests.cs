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

    [Fact]
    public void Interval_matches_a_direct_resampling_of_excerpts()
    {
        // Recompute the bootstrap naively (concatenate the drawn excerpts, correlate) with the same draws.
        var excerpts = NoisyExcerpts(11);
        double[] truth = [.. excerpts.SelectMany(e => e.Truth)], predicted = [.. excerpts.SelectMany(e => e.Predicted)];
        int[] lengths = [.. excerpts.Select(e => e.Truth.Length)];
        var interval = CorrelationBootstrap.Interval(truth, predicted, lengths, resamples: 200, seed: 5)!.Value;

        var random = new CorrelationBootstrap.Draws(5);
        var naive = new List<double>();
        for (int b = 0; b < 200; b++)
        {
            var drawn = Enumerable.Range(0, excerpts.Length).Select(_ => excerpts[random.Below(excerpts.Length)]).ToList();
            naive.Add(ActivationScores.Correlation([.. drawn.SelectMany(e => e.Truth)], [.. drawn.SelectMany(e => e.Predicted)]).Value!.Value);
        }
        naive.Sort();
        // numpy-style percentiles at 2.5% and 97.5% of 200 values: positions 4.975 and 194.025.
        Assert.Equal(naive[4] + 0.975 * (naive[5] - naive[4]), interval.Low, 9);
        Assert.Equal(naive[194] + 0.025 * (naive[195] - naive[194]), interval.High, 9);
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
