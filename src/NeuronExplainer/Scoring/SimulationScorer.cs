using NeuronExplainer.Activations;

namespace NeuronExplainer.Scoring;

/// <summary>
/// Builds <see cref="ScoredSimulation"/>s: per-excerpt scores, scores pooled over every token of
/// every excerpt (never a mean of per-excerpt correlations), and the bootstrap interval.
/// </summary>
public static class SimulationScorer
{
    public const int DefaultResamples = 1000;

    /// <summary>
    /// Scores simulations of the given excerpts. Simulation i must be of excerpt i with the same
    /// number of tokens; anything else is a bug in the simulator and throws.
    /// </summary>
    public static ScoredSimulation Score(IReadOnlyList<ActivationRecord> records, IReadOnlyList<SequenceSimulation> simulations,
        int bootstrapSeed = 0, int resamples = DefaultResamples)
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
            double[] truth = [.. record.Activations], predicted = [.. simulation.ExpectedActivations];
            sequences[i] = new ScoredSequenceSimulation(simulation, record.Activations,
                ActivationScores.Correlation(truth, predicted).Value,
                ActivationScores.RSquared(truth, predicted).Value,
                ActivationScores.AbsoluteDevExplained(truth, predicted).Value);
        }
        return Aggregate(sequences, bootstrapSeed, resamples);
    }

    /// <summary>Pools already scored excerpts (ours or OpenAI's) into one scored simulation.</summary>
    public static ScoredSimulation Aggregate(IReadOnlyList<ScoredSequenceSimulation> sequences,
        int bootstrapSeed = 0, int resamples = DefaultResamples)
    {
        var truth = new List<double>();
        var predicted = new List<double>();
        var lengths = new int[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            if (s.TrueActivations.Count != s.Simulation.ExpectedActivations.Count)
                throw new ArgumentException(
                    $"excerpt {i} has {s.TrueActivations.Count} true activations but {s.Simulation.ExpectedActivations.Count} simulated");
            truth.AddRange(s.TrueActivations);
            predicted.AddRange(s.Simulation.ExpectedActivations);
            lengths[i] = s.TrueActivations.Count;
        }
        double[] x = [.. truth], y = [.. predicted];
        var correlation = ActivationScores.Correlation(x, y);
        var interval = correlation.IsDefined ? CorrelationBootstrap.Interval(x, y, lengths, resamples, bootstrapSeed) : null;
        return new ScoredSimulation(sequences, correlation.Value,
            ActivationScores.RSquared(x, y).Value, ActivationScores.AbsoluteDevExplained(x, y).Value)
        {
            UndefinedReason = correlation.UndefinedReason,
            EvCorrelationInterval = interval is var (low, high) ? [low, high] : null,
        };
    }
}
