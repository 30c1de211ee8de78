using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Scores of one layer (or of all, with <see cref="Layer"/> null) in a run's summary. Mean, median and the share
/// at or above 0.8 are over neurons with a defined score; the control columns are the shuffled control's.
/// </summary>
public sealed record LayerSummary(int? Layer, int Neurons, int Done, int Failed, int NoActivations, int Pending, int Missing,
    int Undefined, double? Mean, double? Median, double? ShareAtLeast08, int ControlScored, double? ControlMean);

/// <summary>
/// The end-of-run summary of one explainer/simulator pair over the selected neurons, with the shuffled control
/// beside the real scores, read from the store (so it covers resumed work too).
/// </summary>
public static class RunSummary
{
    public const double GoodScore = 0.8;

    /// <summary>One row per layer, then the total over all selected neurons (scores pooled, not a mean of layer means).</summary>
    public static IReadOnlyList<LayerSummary> Build(IExplanationResultStore store, IReadOnlyCollection<NeuronId> neurons, string explainer, string simulator)
    {
        var selected = neurons.ToHashSet();
        var byLayer = neurons.Select(n => n.LayerIndex).Distinct().Order()
            .ToDictionary(l => l, l => store.ListScores(l).Where(s => selected.Contains(s.Neuron) && s.Simulator == simulator).ToList());
        var rows = byLayer.Select(kv => Summarize(kv.Key, neurons.Count(n => n.LayerIndex == kv.Key), kv.Value, explainer)).ToList();
        rows.Add(Summarize(null, neurons.Count, [.. byLayer.Values.SelectMany(v => v)], explainer));
        return rows;
    }

    static LayerSummary Summarize(int? layer, int neurons, List<NeuronScore> scores, string explainer)
    {
        var real = scores.Where(s => s.Control == ControlKind.None && s.Explainer == explainer).ToList();
        var defined = Defined(real).Order().ToList();
        var control = Defined(scores.Where(s => s.Control == ControlKind.Shuffled && s.Explainer == ShuffledControl.ExplainerName(explainer))).ToList();
        int Count(NeuronStatus status) => real.Count(s => s.Status == status);
        return new LayerSummary(layer, neurons, Count(NeuronStatus.Done), Count(NeuronStatus.Failed), Count(NeuronStatus.NoActivations),
            Count(NeuronStatus.Pending), neurons - real.Count, Count(NeuronStatus.Done) - defined.Count,
            defined.Count == 0 ? null : defined.Average(), Median(defined),
            defined.Count == 0 ? null : (double)defined.Count(s => s >= GoodScore) / defined.Count,
            control.Count, control.Count == 0 ? null : control.Average());
    }

    static IEnumerable<double> Defined(IEnumerable<NeuronScore> scores) =>
        scores.Where(s => s is { Status: NeuronStatus.Done, Score: not null }).Select(s => s.Score!.Value);

    static double? Median(List<double> sorted) => sorted.Count == 0 ? null
        : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
