using NeuronExplainer.Explanations;

namespace NeuronExplainer.Storage;

/// <summary>
/// What a store keeps per explainer/simulator pair, layer and unit kind about its results (controls left out), updated by every
/// result written: how many there are, how many are done or failed, and of the done ones how many have a defined score,
/// how many reach <see cref="ScoreAggregate.GoodScore"/>, their sum and histogram.
/// </summary>
public sealed record PairLayerScores(string Explainer, string Simulator, int Layer, int Results, int Done, int Failed, int Defined, int Good,
    double ScoreSum, IReadOnlyList<int> Histogram)
{
    /// <summary>The kind of the layer's units these results are of, as stores key it (<see cref="Activations.NeuronId.KindKey"/>).</summary>
    public string Kind { get; init; } = "neuron";

    public ScoreAggregate Aggregate => ScoreAggregate.FromCounts(Defined, Done - Defined, ScoreSum, Good);
}

/// <summary>
/// What a store keeps per explainer/simulator pair, layer, unit kind and scoring method about the method scores of its
/// results, controls apart (<see cref="Control"/>): how many scores, how many failed, how many are defined (a value, not
/// failed), how many of those reach <see cref="ScoreAggregate.GoodScore"/>, and their sum.
/// </summary>
public sealed record MethodLayerScores(string Explainer, string Simulator, int Layer, string Kind, string Method, bool Control,
    int Scores, int Failed, int Defined, int Good, double ScoreSum)
{
    /// <summary>Undefined: neither failed nor with a value.</summary>
    public ScoreAggregate Aggregate => ScoreAggregate.FromCounts(Defined, Scores - Failed - Defined, ScoreSum, Good);

    /// <summary>Whether <paramref name="score"/> counts as defined, and as good, in these totals.</summary>
    public static (bool Defined, bool Good) Counts(MethodScore score)
    {
        bool defined = !score.Failed && score.Value is not null;
        return (defined, defined && score.Value >= ScoreAggregate.GoodScore);
    }
}

/// <summary>The score histogram's bins: 20 of width 0.1 over [-1, 1], the outermost taking what lies beyond.</summary>
public static class ScoreHistogram
{
    public const int Bins = 20;

    /// <summary>(score + 1) * 10, as the store's migration computes it in SQL, so both give the same bin.</summary>
    public static int Bin(double score) => Math.Clamp((int)Math.Floor((score + 1) * 10), 0, Bins - 1);

    public static IReadOnlyList<double> Edges { get; } = [.. Enumerable.Range(0, Bins + 1).Select(i => -1 + 2.0 * i / Bins)];
}
