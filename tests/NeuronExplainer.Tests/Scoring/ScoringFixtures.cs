using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Scoring;

static class ScoringFixtures
{
    public static SequenceSimulation Simulation(IReadOnlyList<double> expected, ActivationScale scale = ActivationScale.NeuronActivations) => new(
        [.. expected.Select((_, i) => $"t{i}")], expected, scale,
        [.. expected.Select(_ => (IReadOnlyList<double>)[0.0, 10.0])],
        [.. expected.Select(e => (IReadOnlyList<double>)[1 - e / 10, e / 10])]);

    public static ActivationRecord Record(IReadOnlyList<double> activations) =>
        new([.. activations.Select((_, i) => $"t{i}")], activations);

    public static ScoredSimulation Score(IEnumerable<(double[] Truth, double[] Predicted)> excerpts, int seed = 0,
        ActivationScale scale = ActivationScale.NeuronActivations)
    {
        var list = excerpts.ToList();
        return SimulationScorer.Score([.. list.Select(e => Record(e.Truth))], [.. list.Select(e => Simulation(e.Predicted, scale))], seed);
    }
}
