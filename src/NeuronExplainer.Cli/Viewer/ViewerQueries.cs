using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Cli.Viewer;

/// <summary>Reads the store (never writes) and shapes what the viewer's pages show.</summary>
public sealed class ViewerQueries(INeuronStore store)
{
    /// <summary>Bins of the per-layer score histogram over [-1, 1].</summary>
    public const int HistogramBins = 20;
    const int ExtremesShown = 10;

    /// <summary>
    /// The overview for one explainer/simulator pair: the given one, or by default the pair with most results. Aggregates
    /// never mix pairs: a neuron's best score over pairs would inflate them once, say, an import sits beside a run.
    /// </summary>
    /// <exception cref="NeuronExplainerException">Only one of explainer and simulator is given, or the store has no such pair.</exception>
    public SummaryView Summary(string? explainer = null, string? simulator = null)
    {
        var pairs = Pairs();
        var pair = ChoosePair(pairs, explainer, simulator);
        var neuronsPerLayer = store.ListNeurons().CountBy(n => n.LayerIndex).ToDictionary();
        List<NeuronScoreView> rows = pair is null ? [] : ScoreRows(null, pair);
        var done = rows.Where(r => r.Status == NeuronStatus.Done).ToList();
        var scored = done.Where(r => r.Score is not null).ToList();
        var doneByLayer = done.ToLookup(r => r.Layer, r => r.Score);
        var perLayer = neuronsPerLayer.Keys.Order().Select(layer =>
        {
            var aggregate = ScoreAggregate.Of(doneByLayer[layer]);
            var histogram = new int[HistogramBins];
            foreach (var s in doneByLayer[layer].OfType<double>()) histogram[Bin(s)]++;
            return new LayerScoresView(layer, neuronsPerLayer[layer], aggregate.Defined, aggregate.Undefined, aggregate.Mean, aggregate.MeanUndefinedAsZero, histogram);
        }).ToList();
        var edges = Enumerable.Range(0, HistogramBins + 1).Select(i => -1 + 2.0 * i / HistogramBins).ToList();
        var byScore = scored.OrderByDescending(r => r.Score).ThenBy(r => r.Layer).ThenBy(r => r.Neuron).ToList();
        return new SummaryView(
            ToView(store.GetManifest()),
            store.Location,
            pair,
            pairs,
            perLayer.Count,
            perLayer.Sum(l => l.Neurons),
            scored.Count,
            rows.Count(r => r.Status == NeuronStatus.Failed),
            ScoreAggregate.Of(done.Select(r => r.Score)),
            edges,
            perLayer,
            pair is null ? [] : MethodScores(pair),
            byScore.Take(ExtremesShown).ToList(),
            byScore.AsEnumerable().Reverse().Take(ExtremesShown).ToList());
    }

    /// <summary>Per layer and in all, every method the pair's results were scored by, with the shuffled control beside it.</summary>
    List<MethodSummary> MethodScores(PairView pair)
    {
        var methods = store.ListMethodScores().Where(r => r.Explainer == pair.Explainer && r.Simulator == pair.Simulator)
            .Select(r => r.Score.Method).Distinct().Order(StringComparer.Ordinal).ToList();
        return methods.Count == 0 ? [] : [.. RunSummary.ByMethod(store, store.ListNeurons(), pair.Explainer, pair.Simulator, methods)];
    }

    /// <summary>The store's explainer/simulator pairs, most results first.</summary>
    List<PairView> Pairs() =>
        store.ListScores()
            .Where(s => s.Control == ControlKind.None)
            .CountBy(s => (s.Explainer, s.Simulator))
            .Select(p => new PairView(p.Key.Explainer, p.Key.Simulator, p.Value))
            .OrderByDescending(p => p.Results).ThenBy(p => p.Explainer, StringComparer.Ordinal).ThenBy(p => p.Simulator, StringComparer.Ordinal)
            .ToList();

    static PairView? ChoosePair(List<PairView> pairs, string? explainer, string? simulator)
    {
        if (explainer is null && simulator is null) return pairs.FirstOrDefault();
        if (explainer is null || simulator is null)
            throw new NeuronExplainerException($"give both 'explainer' and 'simulator' to choose a pair, not only '{(explainer is null ? "simulator" : "explainer")}'");
        return pairs.FirstOrDefault(p => p.Explainer == explainer && p.Simulator == simulator)
            ?? throw new NeuronExplainerException($"the store has no results of explainer '{explainer}' with simulator '{simulator}'; it has "
                + (pairs.Count == 0 ? "none" : string.Join(", ", pairs.Select(p => $"'{p.Explainer}' with '{p.Simulator}'"))));
    }

    static int Bin(double score) => Math.Clamp((int)Math.Floor((score + 1) / 2 * HistogramBins), 0, HistogramBins - 1);

    static ManifestView? ToView(RunManifest? m) =>
        m is null ? null : new ManifestView(m.Model, m.Corpus, m.Settings, m.ToolVersion, m.CreatedAt);

    /// <summary>Every neuron of the layer, explained or not; null when the store has no such layer.</summary>
    public LayerView? Layer(int layer)
    {
        var layers = store.ListLayers();
        int at = layers.ToList().IndexOf(layer);
        if (at < 0) return null;
        // The store registers every neuron it holds anything about; those without a result yet are pending.
        var rows = ScoreRows(layer, null).ToDictionary(r => r.Neuron);
        var neurons = store.ListNeurons(layer)
            .Select(id => rows.GetValueOrDefault(id.NeuronIndex) ?? new NeuronScoreView(layer, id.NeuronIndex, NeuronStatus.Pending, null, null, null, null))
            .ToList();
        return new LayerView(layer, at > 0 ? layers[at - 1] : null, at + 1 < layers.Count ? layers[at + 1] : null, neurons);
    }

    /// <summary>
    /// The explanation per neuron of the given pair, or with no pair the best over its pairs (highest defined score, else
    /// the first; for listings, never for aggregates). Only scored (done) results count: a pending result carries
    /// calibration scores, and shuffled-control results score another neuron's explanation, so neither is the neuron's score.
    /// </summary>
    List<NeuronScoreView> ScoreRows(int? layer, PairView? pair) =>
        store.ListScores(layer)
            .Where(s => s.Control == ControlKind.None && (pair is null || (s.Explainer == pair.Explainer && s.Simulator == pair.Simulator)))
            .Select(s => s.Status == NeuronStatus.Done ? s : s with { Score = null })
            .GroupBy(s => s.Neuron)
            .Select(g => g.OrderByDescending(s => s.Score ?? double.NegativeInfinity).First())
            .Select(s => new NeuronScoreView(s.Neuron.LayerIndex, s.Neuron.NeuronIndex, s.Status, s.Explanation, s.Score, s.Explainer, s.Simulator))
            .ToList();


    public SearchView Search(string query, int limit) =>
        new(query, store.SearchExplanations(query, limit)
            .Select(h => new SearchHitView(h.Neuron.LayerIndex, h.Neuron.NeuronIndex, h.Explanation, Highlight.Split(h.Highlighted, SearchHighlight.Open, SearchHighlight.Close), h.Rank))
            .ToList());

    /// <summary>Everything known about one neuron; null when the store knows nothing of it.</summary>
    public NeuronView? Neuron(NeuronId id)
    {
        var record = store.GetNeuronRecord(id);
        var results = store.GetExplanationResults(id);
        var activationTokens = store.GetActivationBasedTokens(id);
        var weightTokens = store.GetWeightBasedTokens(id);
        var connections = store.GetConnections(id);
        if (record is null && results.Count == 0 && activationTokens is null && weightTokens is null && connections is null)
            return null;
        var (previous, next) = Neighbours(id);
        return new NeuronView(
            id.LayerIndex,
            id.NeuronIndex,
            previous,
            next,
            record?.MaxActivation,
            record is null ? null : new MomentsView(record.Mean, record.Variance, record.Skewness, record.Kurtosis),
            results.OrderBy(r => r.Control != ControlKind.None).SelectMany(ToViews).ToList(),
            record?.MostPositiveActivationRecords.Select(ToView).ToList() ?? [],
            record?.RandomSample.Select(ToView).ToList() ?? [],
            activationTokens is null ? null : new TokenValuesView(activationTokens.Tokens, activationTokens.AverageActivations),
            weightTokens is null ? null : new WeightBasedTokensView(ToView(weightTokens.InputPositive), ToView(weightTokens.InputNegative), ToView(weightTokens.OutputPositive), ToView(weightTokens.OutputNegative)),
            Related(connections?.Upstream),
            Related(connections?.Downstream));
    }

    static ExcerptView ToView(ActivationRecord r) => new(r.Tokens, r.Activations);

    static TokenValuesView ToView(TokensAndWeights t) => new(t.Tokens, t.Strengths);

    static IReadOnlyList<RelatedNeuronView> Related(ConnectionList? list)
    {
        if (list is null) return [];
        var positive = list.TopPositiveNeurons.Zip(list.TopPositiveWeights);
        var negative = list.TopNegativeNeurons.Zip(list.TopNegativeWeights);
        return positive.Concat(negative)
            .Select(p => (Id: NeuronId.Parse(p.First), Weight: p.Second))
            .Select(p => new RelatedNeuronView(p.Id.LayerIndex, p.Id.NeuronIndex, p.Weight))
            .ToList();
    }

    static IEnumerable<ExplanationView> ToViews(NeuronExplanationResult r)
    {
        if (r.Results is null || r.Results.ScoredExplanations.Count == 0)
        {
            yield return new ExplanationView(r.Explainer, r.Simulator, r.Control != ControlKind.None, r.Status, r.Reason, false, null, null, null, null, null, null, [], []);
            yield break;
        }
        for (int i = 0; i < r.Results.ScoredExplanations.Count; i++)
        {
            var e = r.Results.ScoredExplanations[i];
            var s = e.ScoredSimulation;
            var excerpts = s.ScoredSequenceSimulations.Select(q => new ScoredExcerptView(
                q.Simulation.Tokens, q.TrueActivations, q.Simulation.ExpectedActivations,
                q.Simulation.ActivationScale == ActivationScale.NeuronActivations ? "neuron_activations" : "simulated_normalized_activations",
                q.EvCorrelationScore)).ToList();
            yield return new ExplanationView(r.Explainer, r.Simulator, r.Control != ControlKind.None, r.Status, r.Reason, r.ChosenIndex == i, e.Explanation,
                s.EvCorrelationScore, s.EvCorrelationInterval, s.UndefinedReason, s.RsquaredScore, s.AbsoluteDevExplainedScore, excerpts,
                r.ChosenIndex == i ? [.. r.Scores.Select(ToView)] : []);
        }
    }

    static MethodScoreView ToView(MethodScore m) => new(m.Method, m.Value, m.UndefinedReason, m.Failed,
        m.Details is null ? null : JsonDocument.Parse(m.Details).RootElement.Clone());

    /// <summary>The neurons before and after this one in (layer, neuron) order, crossing layer boundaries.</summary>
    (NeuronRef? Previous, NeuronRef? Next) Neighbours(NeuronId id)
    {
        var inLayer = store.ListNeurons(id.LayerIndex).Select(n => n.NeuronIndex).Order().ToList();
        int below = inLayer.FindLastIndex(n => n < id.NeuronIndex);
        int above = inLayer.FindIndex(n => n > id.NeuronIndex);
        var layers = store.ListLayers();
        var previous = below >= 0 ? new NeuronRef(id.LayerIndex, inLayer[below])
            : Edge(layers.Where(l => l < id.LayerIndex).Reverse(), last: true);
        var next = above >= 0 ? new NeuronRef(id.LayerIndex, inLayer[above])
            : Edge(layers.Where(l => l > id.LayerIndex), last: false);
        return (previous, next);
    }

    /// <summary>The first (or last) neuron of the first non-empty layer in the given order; lazy, so one layer is usually read.</summary>
    NeuronRef? Edge(IEnumerable<int> layers, bool last)
    {
        foreach (var layer in layers)
        {
            var neurons = store.ListNeurons(layer);
            if (neurons.Count == 0) continue;
            var n = last ? neurons.Max(x => x.NeuronIndex) : neurons.Min(x => x.NeuronIndex);
            return new NeuronRef(layer, n);
        }
        return null;
    }
}
