using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Scores of one layer (or of all, with <see cref="Layer"/> null) in a run's summary. Mean, median and the share
/// at or above 0.8 are over neurons with a defined score; <see cref="Scores"/> gives them with undefined counted as 0
/// too. The control columns are the shuffled control's.
/// </summary>
public sealed record LayerSummary(int? Layer, int Neurons, int Done, int Failed, int NoActivations, int Pending, int Missing,
    ScoreAggregate Scores, double? Median, int ControlScored, double? ControlMean);

/// <summary>
/// One scoring method's scores in one layer (or in all, with <see cref="Layer"/> null): of the pair's own chosen
/// explanations (<see cref="Scores"/>, with <see cref="Failed"/> those the scorer could not score) and of the shuffled
/// control beside them.
/// </summary>
public sealed record MethodSummary(int? Layer, string Method, ScoreAggregate Scores, int Failed, int ControlScored, double? ControlMean);

/// <summary>
/// Value slots of one layer (or of all, with <see cref="Layer"/> null) that the simulator left without a value 0..10
/// among its top logprobs (scored as 0), over the valid-split simulations of the done neurons' chosen explanations.
/// </summary>
public sealed record NoValueShare(int? Layer, int Slots, int NoValueSlots)
{
    public double? Share => Slots == 0 ? null : (double)NoValueSlots / Slots;
}

/// <summary>
/// The end-of-run summary of one explainer/simulator pair over the selected neurons, with the shuffled control
/// beside the real scores, read from the store (so it covers resumed work too).
/// </summary>
public static class RunSummary
{
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

    /// <summary>Per layer, then over all, each of <paramref name="methods"/> over the selected neurons' results of the pair and its control.</summary>
    public static IReadOnlyList<MethodSummary> ByMethod(IExplanationResultStore store, IReadOnlyCollection<NeuronId> neurons, string explainer, string simulator,
        IReadOnlyList<string> methods)
    {
        var selected = neurons.ToHashSet();
        string control = ShuffledControl.ExplainerName(explainer);
        var byLayer = neurons.Select(n => n.LayerIndex).Distinct().Order().ToDictionary(l => l, l => store.ListMethodScores(l)
            .Where(r => selected.Contains(r.Neuron) && r.Simulator == simulator
                && (r.Control == ControlKind.None ? r.Explainer == explainer : r.Explainer == control))
            .ToList());
        var groups = byLayer.Select(kv => ((int?)kv.Key, kv.Value)).Append((null, [.. byLayer.Values.SelectMany(v => v)]));
        return [.. groups.SelectMany(g => methods.Select(method =>
        {
            var rows = g.Item2.Where(r => r.Score.Method == method).ToList();
            var real = rows.Where(r => r.Control == ControlKind.None && !r.Score.Failed).Select(r => r.Score.Value);
            var shuffled = rows.Where(r => r.Control != ControlKind.None && r.Score.Value is not null).Select(r => r.Score.Value!.Value).ToList();
            return new MethodSummary(g.Item1, method, ScoreAggregate.Of(real), rows.Count(r => r.Control == ControlKind.None && r.Score.Failed),
                shuffled.Count, shuffled.Count == 0 ? null : shuffled.Average());
        }))];
    }

    /// <summary>
    /// Per layer, then over all, the share of value slots without a value (see <see cref="NoValueShare"/>). Reads every
    /// stored result of the pair, so callers ask for it only when the simulator can leave slots empty (all-at-once).
    /// </summary>
    public static IReadOnlyList<NoValueShare> NoValueShares(IExplanationResultStore store, IReadOnlyCollection<NeuronId> neurons, string explainer, string simulator)
    {
        var rows = neurons.GroupBy(n => n.LayerIndex).OrderBy(g => g.Key).Select(layer =>
        {
            int slots = 0, missing = 0;
            foreach (var id in layer)
                if (store.GetExplanationResult(id, explainer, simulator) is { Status: NeuronStatus.Done, Results: { } results, ChosenIndex: int chosen })
                    foreach (var scored in results.ScoredExplanations[chosen].ScoredSimulation.ScoredSequenceSimulations)
                    {
                        var simulation = scored.Simulation.UncalibratedSimulation ?? scored.Simulation;
                        slots += simulation.Tokens.Count;
                        missing += simulation.NoValueSlots;
                    }
            return new NoValueShare(layer.Key, slots, missing);
        }).ToList();
        rows.Add(new NoValueShare(null, rows.Sum(r => r.Slots), rows.Sum(r => r.NoValueSlots)));
        return rows;
    }

    static LayerSummary Summarize(int? layer, int neurons, List<NeuronScore> scores, string explainer)
    {
        var real = scores.Where(s => s.Control == ControlKind.None && s.Explainer == explainer).ToList();
        var defined = Defined(real).Order().ToList();
        var aggregate = ScoreAggregate.Of(real.Where(s => s.Status == NeuronStatus.Done).Select(s => s.Score));
        var control = Defined(scores.Where(s => s.Control == ControlKind.Shuffled && s.Explainer == ShuffledControl.ExplainerName(explainer))).ToList();
        int Count(NeuronStatus status) => real.Count(s => s.Status == status);
        return new LayerSummary(layer, neurons, Count(NeuronStatus.Done), Count(NeuronStatus.Failed), Count(NeuronStatus.NoActivations),
            Count(NeuronStatus.Pending), neurons - real.Count, aggregate, Median(defined),
            control.Count, control.Count == 0 ? null : control.Average());
    }

    static IEnumerable<double> Defined(IEnumerable<NeuronScore> scores) =>
        scores.Where(s => s is { Status: NeuronStatus.Done, Score: not null }).Select(s => s.Score!.Value);

    static double? Median(List<double> sorted) => sorted.Count == 0 ? null
        : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
