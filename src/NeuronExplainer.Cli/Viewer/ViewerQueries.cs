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
    public const int HistogramBins = ScoreHistogram.Bins;
    const int ExtremesShown = 10;

    /// <summary>
    /// The overview for one explainer/simulator pair: the given one, or by default the pair with most results. Aggregates
    /// never mix pairs: a neuron's best score over pairs would inflate them once, say, an import sits beside a run. They
    /// are the store's running totals, so the overview reads a few rows per layer however many neurons there are.
    /// </summary>
    /// <exception cref="NeuronExplainerException">Only one of explainer and simulator is given, or the store has no such pair.</exception>
    public SummaryView Summary(string? explainer = null, string? simulator = null)
    {
        var totals = store.ListPairLayerScores();
        var pairs = Pairs(totals);
        var pair = ChoosePair(pairs, explainer, simulator);
        var ofPair = pair is null ? [] : totals.Where(t => t.Explainer == pair.Explainer && t.Simulator == pair.Simulator).ToDictionary(t => (t.Layer, t.Kind));
        // One row per layer and unit kind: a layer may hold its MLP neurons, its heads and an SAE's latents.
        var perLayer = store.CountUnits().Select(c =>
        {
            var t = ofPair.GetValueOrDefault((c.Layer, c.Kind));
            var aggregate = t?.Aggregate ?? ScoreAggregate.Of([]);
            return new LayerScoresView(c.Layer, c.Count, aggregate.Defined, aggregate.Undefined, aggregate.Mean, aggregate.MeanUndefinedAsZero,
                t?.Histogram ?? new int[HistogramBins], c.Kind);
        }).ToList();
        var all = ofPair.Values;
        NeuronScoreView Row(NeuronScore s) => ScoreView(s.Neuron, s.Status, s.Explanation, s.Score, s.Explainer, s.Simulator);
        return new SummaryView(
            ToView(store.GetManifest()),
            store.Location,
            pair,
            pairs,
            perLayer.Select(l => l.Layer).Distinct().Count(),
            perLayer.Sum(l => l.Neurons),
            all.Sum(t => t.Defined),
            all.Sum(t => t.Failed),
            ScoreAggregate.FromCounts(all.Sum(t => t.Defined), all.Sum(t => t.Done - t.Defined), all.Sum(t => t.ScoreSum), all.Sum(t => t.Good)),
            ScoreHistogram.Edges,
            perLayer,
            pair is null ? [] : MethodScores(pair, perLayer.Select(l => l.Layer).Distinct().Order()),
            pair is null ? [] : [.. store.ExtremeScores(pair.Explainer, pair.Simulator, ExtremesShown, best: true).Select(Row)],
            pair is null ? [] : [.. store.ExtremeScores(pair.Explainer, pair.Simulator, ExtremesShown, best: false).Select(Row)]);
    }

    /// <summary>
    /// Per layer and in all, every method the pair's results were scored by, with the shuffled control beside it, from the
    /// store's per-method totals (as <see cref="RunSummary.ByMethod"/> computes them from every method score).
    /// </summary>
    List<MethodSummary> MethodScores(PairView pair, IEnumerable<int> layers)
    {
        string control = ShuffledControl.ExplainerName(pair.Explainer);
        var totals = store.ListMethodLayerScores()
            .Where(t => t.Simulator == pair.Simulator && t.Explainer == (t.Control ? control : pair.Explainer)).ToList();
        var methods = totals.Where(t => !t.Control).Select(t => t.Method).Distinct().Order(StringComparer.Ordinal).ToList();
        return [.. layers.Select(l => (int?)l).Append(null).SelectMany(layer => methods.Select(method =>
        {
            var of = totals.Where(t => t.Method == method && (layer is null || t.Layer == layer)).ToList();
            var real = of.Where(t => !t.Control).ToList();
            var shuffled = of.Where(t => t.Control).ToList();
            int controlScored = shuffled.Sum(t => t.Defined);
            return new MethodSummary(layer, method,
                ScoreAggregate.FromCounts(real.Sum(t => t.Defined), real.Sum(t => t.Aggregate.Undefined), real.Sum(t => t.ScoreSum), real.Sum(t => t.Good)),
                real.Sum(t => t.Failed), controlScored, controlScored == 0 ? null : shuffled.Sum(t => t.ScoreSum) / controlScored);
        }))];
    }

    /// <summary>The store's explainer/simulator pairs, most results first.</summary>
    static List<PairView> Pairs(IReadOnlyList<PairLayerScores> totals) =>
        totals.GroupBy(t => (t.Explainer, t.Simulator))
            .Select(p => new PairView(p.Key.Explainer, p.Key.Simulator, p.Sum(t => t.Results)))
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

    static ManifestView? ToView(RunManifest? m) =>
        m is null ? null : new ManifestView(m.Model, m.Corpus, m.Settings, m.ToolVersion, m.CreatedAt);

    /// <summary>
    /// Every neuron of the layer, explained or not, with its result of one explainer/simulator pair (the given one, or by
    /// default the pair with most results, as the summary's); null when the store has no such layer.
    /// </summary>
    /// <exception cref="NeuronExplainerException">Only one of explainer and simulator is given, or the store has no such pair.</exception>
    public LayerView? Layer(int layer, string? explainer = null, string? simulator = null)
    {
        var layers = store.ListLayers().ToList();
        int at = layers.IndexOf(layer);
        if (at < 0) return null;
        var pair = ChoosePair(Pairs(store.ListPairLayerScores()), explainer, simulator);
        // The store registers every neuron it holds anything about; those without a result of the pair yet are pending.
        var rows = (pair is null ? [] : ScoreRows(layer, pair)).ToDictionary(r => r.Unit);
        var neurons = store.ListNeurons(layer)
            .Select(id => rows.GetValueOrDefault(id.ToString()) ?? ScoreView(id, NeuronStatus.Pending, null, null, null, null))
            .ToList();
        return new LayerView(layer, at > 0 ? layers[at - 1] : null, at + 1 < layers.Count ? layers[at + 1] : null, pair, neurons);
    }

    /// <summary>
    /// The pair's result per neuron. Only scored (done) results carry a score: a pending result carries calibration scores,
    /// and shuffled-control results score another neuron's explanation, so neither is the neuron's score.
    /// </summary>
    List<NeuronScoreView> ScoreRows(int layer, PairView pair) =>
        store.ListScores(layer)
            .Where(s => s.Control == ControlKind.None && s.Explainer == pair.Explainer && s.Simulator == pair.Simulator)
            .Select(s => ScoreView(s.Neuron, s.Status, s.Explanation, s.Status == NeuronStatus.Done ? s.Score : null, s.Explainer, s.Simulator))
            .ToList();

    static NeuronScoreView ScoreView(NeuronId id, NeuronStatus status, string? explanation, double? score, string? explainer, string? simulator) =>
        new(id.LayerIndex, id.NeuronIndex, status, explanation, score, explainer, simulator, NeuronId.Prefix(id.Kind), id.ToString());

    /// <summary>Explanations matching <paramref name="query"/>, of units of <paramref name="kind"/> only when given (see <see cref="IExplanationSearch"/>).</summary>
    public SearchView Search(string query, int limit, string? kind = null) =>
        new(query, kind, store.SearchExplanations(query, limit, kind)
            .Select(h => new SearchHitView(h.Neuron.LayerIndex, h.Neuron.NeuronIndex, h.Explanation, Highlight.Split(h.Highlighted, SearchHighlight.Open, SearchHighlight.Close), h.Rank,
                NeuronId.Prefix(h.Neuron.Kind), h.Neuron.ToString()))
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
        // The stored id: a latent spelled without its layer gets its SAE's.
        id = record?.NeuronId ?? results.FirstOrDefault()?.Neuron ?? id;
        var (previous, next) = Neighbours(id);
        // Only a head's or latent's page links units of its layer; a neuron's (most pages) reads no second listing.
        var layerUnits = id.Kind == UnitKind.Neuron ? [] : store.ListNeurons(id.LayerIndex);
        return new NeuronView(
            id.LayerIndex,
            id.NeuronIndex,
            NeuronId.Prefix(id.Kind),
            id.ToString(),
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
            Related(connections?.Downstream))
        {
            Density = record?.Density,
            LayerUnits = id.Kind == UnitKind.AttentionHead ? [.. layerUnits.Where(u => u.KindKey == id.KindKey && u.NeuronIndex != id.NeuronIndex).OrderBy(u => u.NeuronIndex).Select(Ref)] : [],
            LayerNeuron = id.Kind == UnitKind.Neuron ? null : layerUnits.Where(u => u.Kind == UnitKind.Neuron).OrderBy(u => u.NeuronIndex).Select(Ref).FirstOrDefault(),
        };
    }

    static ExcerptView ToView(ActivationRecord r) => new(r.Tokens, r.Activations)
    {
        Attended = r.Attended?.Select(t => (IReadOnlyList<AttendedTokenView>)[.. t.Select(a => new AttendedTokenView(a.Position, a.Weight))]).ToList(),
    };

    static TokenValuesView ToView(TokensAndWeights t) => new(t.Tokens, t.Strengths);

    static IReadOnlyList<RelatedNeuronView> Related(ConnectionList? list)
    {
        if (list is null) return [];
        var positive = list.TopPositiveNeurons.Zip(list.TopPositiveWeights);
        var negative = list.TopNegativeNeurons.Zip(list.TopNegativeWeights);
        return positive.Concat(negative)
            .Select(p => (Id: NeuronId.Parse(p.First), Weight: p.Second))
            .Select(p => new RelatedNeuronView(p.Id.LayerIndex, p.Id.NeuronIndex, p.Weight, NeuronId.Prefix(p.Id.Kind), p.Id.ToString()))
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
                r.ChosenIndex == i ? [.. r.Scores.Select(ToView)] : [])
            {
                TopOnlyScore = s.TopOnlyScore,
                RandomOnlyScore = s.RandomOnlyScore,
            };
        }
    }

    static MethodScoreView ToView(MethodScore m) => new(m.Method, m.Value, m.UndefinedReason, m.Failed,
        m.Details is null ? null : JsonDocument.Parse(m.Details).RootElement.Clone());

    /// <summary>The units of the same kind before and after this one in (layer, index) order, crossing layer boundaries.</summary>
    (NeuronRef? Previous, NeuronRef? Next) Neighbours(NeuronId id)
    {
        var inLayer = OfKind(id.LayerIndex, id.KindKey);
        int below = inLayer.FindLastIndex(n => n.NeuronIndex < id.NeuronIndex);
        int above = inLayer.FindIndex(n => n.NeuronIndex > id.NeuronIndex);
        var layers = store.ListLayers();
        var previous = below >= 0 ? Ref(inLayer[below]) : Edge(layers.Where(l => l < id.LayerIndex).Reverse(), id.KindKey, last: true);
        var next = above >= 0 ? Ref(inLayer[above]) : Edge(layers.Where(l => l > id.LayerIndex), id.KindKey, last: false);
        return (previous, next);
    }

    List<NeuronId> OfKind(int layer, string kind) => [.. store.ListNeurons(layer).Where(n => n.KindKey == kind).OrderBy(n => n.NeuronIndex)];

    static NeuronRef Ref(NeuronId id) => new(id.LayerIndex, id.NeuronIndex, NeuronId.Prefix(id.Kind), id.ToString());

    /// <summary>The first (or last) unit of a kind in the first layer holding any, in the given order; lazy, so one layer is usually read.</summary>
    NeuronRef? Edge(IEnumerable<int> layers, string kind, bool last)
    {
        foreach (var layer in layers)
        {
            var units = OfKind(layer, kind);
            if (units.Count > 0) return Ref(last ? units[^1] : units[0]);
        }
        return null;
    }
}
