using NeuronExplainer.Activations;

namespace NeuronExplainer.Scoring;

/// <summary>
/// Builds <see cref="ScoredSimulation"/>s: per-excerpt scores, scores pooled over every token of
/// every excerpt (never a mean of per-excerpt correlations), and the bootstrap interval. R^2 and absolute
/// deviation compare values, so they are computed only for simulations in activation units
/// (<see cref="ActivationScale.NeuronActivations"/>) and left null for 0..10 ones; the correlation does not
/// depend on the unit and is always computed.
/// </summary>
public static class SimulationScorer
{
    public const int DefaultResamples = 1000;

    /// <summary>
    /// Scores simulations of the given excerpts. Simulation i must be of excerpt i with the same
    /// number of tokens; anything else is a bug in the simulator and throws.
    /// </summary>
    /// <param name="strata">Stratum of each excerpt (e.g. 0 for top, 1 for random), resampled separately by the bootstrap; null for one.</param>
    public static ScoredSimulation Score(IReadOnlyList<ActivationRecord> records, IReadOnlyList<SequenceSimulation> simulations,
        int bootstrapSeed = 0, int resamples = DefaultResamples, IReadOnlyList<int>? strata = null)
    {
        if (records.Count != simulations.Count)
            throw new ArgumentException($"{records.Count} excerpts but {simulations.Count} simulations");
        var sequences = new ScoredSequenceSimulation[records.Count];
        for (int i = 0; i < records.Count; i++)
        {
            var (record, simulation) = (records[i], simulations[i]);
            if (record.Activations.Count != simulation.ExpectedActivations.Count)
                throw new ArgumentException(
                    $"excerpt {i} has {record.Activations.Count} tokens but its simulation has {simulation.ExpectedActivations.Count}");
            ReadOnlySpan<double> truth = Values(record.Activations), predicted = Values(simulation.ExpectedActivations);
            bool units = simulation.ActivationScale == ActivationScale.NeuronActivations;
            sequences[i] = new ScoredSequenceSimulation(simulation, record.Activations,
                ActivationScores.Correlation(truth, predicted).Value,
                units ? ActivationScores.RSquared(truth, predicted).Value : null,
                units ? ActivationScores.AbsoluteDevExplained(truth, predicted).Value : null);
        }
        return Aggregate(sequences, bootstrapSeed, resamples, strata);
    }

    /// <summary>Pools already scored excerpts (ours or OpenAI's) into one scored simulation.</summary>
    public static ScoredSimulation Aggregate(IReadOnlyList<ScoredSequenceSimulation> sequences,
        int bootstrapSeed = 0, int resamples = DefaultResamples, IReadOnlyList<int>? strata = null)
    {
        if (strata is not null && strata.Count != sequences.Count)
            throw new ArgumentException($"{strata.Count} strata for {sequences.Count} excerpts", nameof(strata));
        var lengths = new int[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            if (s.TrueActivations.Count != s.Simulation.ExpectedActivations.Count)
                throw new ArgumentException(
                    $"excerpt {i} has {s.TrueActivations.Count} true activations but {s.Simulation.ExpectedActivations.Count} simulated");
            lengths[i] = s.TrueActivations.Count;
        }
        // Pooled into arrays of their final size: growing lists and copying them out was a fifth of what explain+score allocated.
        double[] x = new double[lengths.Sum()], y = new double[x.Length];
        for (int i = 0, at = 0; i < sequences.Count; at += lengths[i], i++)
        {
            Values(sequences[i].TrueActivations).CopyTo(x.AsSpan(at));
            Values(sequences[i].Simulation.ExpectedActivations).CopyTo(y.AsSpan(at));
        }
        var correlation = ActivationScores.Correlation(x, y);
        var interval = correlation.IsDefined
            ? CorrelationBootstrap.Interval(x, y, lengths, resamples, bootstrapSeed, strata: strata is null ? default : [.. strata])
            : null;
        bool units = sequences.All(s => s.Simulation.ActivationScale == ActivationScale.NeuronActivations);
        return new ScoredSimulation(sequences, correlation.Value,
            units ? ActivationScores.RSquared(x, y).Value : null, units ? ActivationScores.AbsoluteDevExplained(x, y).Value : null)
        {
            UndefinedReason = correlation.UndefinedReason,
            EvCorrelationInterval = interval is var (low, high) ? [low, high] : null,
        };
    }

    /// <summary>The values as a span, copied only when they are not an array already (records and simulations mostly hold arrays).</summary>
    static ReadOnlySpan<double> Values(IReadOnlyList<double> values) => values as double[] ?? [.. values];

    /// <summary>
    /// The pooled correlation over the excerpts of each stratum alone (e.g. top-only and random-only beside the
    /// pooled score), in stratum order 0, 1, ...; undefined with a reason where a stratum has no defined correlation.
    /// </summary>
    public static IReadOnlyList<ScoreValue> ByStratum(ScoredSimulation scored, IReadOnlyList<int> strata)
    {
        var sequences = scored.ScoredSequenceSimulations;
        if (strata.Count != sequences.Count)
            throw new ArgumentException($"{strata.Count} strata for {sequences.Count} excerpts", nameof(strata));
        return [.. Enumerable.Range(0, strata.Count == 0 ? 0 : strata.Max() + 1).Select(stratum =>
        {
            var members = sequences.Where((_, i) => strata[i] == stratum).ToList();
            return ActivationScores.Correlation([.. members.SelectMany(s => s.TrueActivations)], [.. members.SelectMany(s => s.Simulation.ExpectedActivations)]);
        })];
    }
}
