using System.Text.Json;
using NeuronExplainer.Storage;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Cli.Viewer;

// The JSON shapes of the viewer's API (snake_case on the wire). Each is documented in the README's viewer section.

// Every unit is given by its layer and index, its kind (neuron, head, sae) and its printed form (Unit: 3/127, head:2/5,
// sae:res-jb-8/1234), which /api/units/{unit} and the page /unit/{unit} take.

public sealed record NeuronRef(int Layer, int Neuron, string Kind, string Unit);

public sealed record ManifestView(string Model, string Corpus, IReadOnlyDictionary<string, string> Settings, string ToolVersion, DateTimeOffset CreatedAt);

/// <summary>One neuron's best explanation (highest score over explainer/simulator pairs), for listings.</summary>
public sealed record NeuronScoreView(int Layer, int Neuron, NeuronStatus Status, string? Explanation, double? Score, string? Explainer, string? Simulator,
    string Kind, string Unit);

/// <summary>
/// Score distribution of one layer's units of one kind (<c>Kind</c> as stores key it: neuron, head, sae:ID): counts of
/// defined scores per bin of width 2/bins over [-1, 1]; the mean both over defined scores and with the <c>Undefined</c>
/// ones counted as 0.
/// </summary>
public sealed record LayerScoresView(int Layer, int Neurons, int Scored, int Undefined, double? MeanScore, double? MeanScoreUndefinedAsZero, IReadOnlyList<int> Histogram,
    string Kind);

/// <summary>An explainer/simulator pair of the store and how many neurons it has a result for (shuffled controls aside).</summary>
public sealed record PairView(string Explainer, string Simulator, int Results);

/// <summary>The store's overview; every score aggregate in it is for <c>Pair</c> (null when the store has no results), one of <c>Pairs</c>.</summary>
public sealed record SummaryView(
    ManifestView? Manifest,
    string Store,
    PairView? Pair,
    IReadOnlyList<PairView> Pairs,
    int Layers,
    int Neurons,
    int Scored,
    int Failed,
    ScoreAggregate Scores,
    IReadOnlyList<double> HistogramEdges,
    IReadOnlyList<LayerScoresView> LayerScores,
    IReadOnlyList<MethodSummary> MethodScores,
    IReadOnlyList<NeuronScoreView> Best,
    IReadOnlyList<NeuronScoreView> Worst);

public sealed record LayerView(int Layer, int? PreviousLayer, int? NextLayer, PairView? Pair, IReadOnlyList<NeuronScoreView> Neurons);

/// <summary>A piece of highlighted text; <c>Match</c> marks the words the query matched.</summary>
public sealed record TextSpan(string Text, bool Match);

public sealed record SearchHitView(int Layer, int Neuron, string Explanation, IReadOnlyList<TextSpan> Highlighted, double Rank, string Kind, string Unit);

public sealed record SearchView(string Query, string? Kind, IReadOnlyList<SearchHitView> Hits);

public sealed record ExcerptView(IReadOnlyList<string> Tokens, IReadOnlyList<double> Activations)
{
    /// <summary>An attention head's excerpt: per token the positions it attends to most with their weights; absent for other kinds.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<IReadOnlyList<AttendedTokenView>>? Attended { get; init; }
}

public sealed record AttendedTokenView(int Position, double Weight);

/// <summary>A scored excerpt: the real activations next to the simulator's expected values (in <c>ActivationScale</c> units).</summary>
public sealed record ScoredExcerptView(IReadOnlyList<string> Tokens, IReadOnlyList<double> TrueActivations, IReadOnlyList<double> SimulatedActivations, string ActivationScale, double? Score);

/// <summary>
/// One method's score of a chosen explanation (simulation-correlation, detection, detection-auc, fuzzing, ...):
/// <c>Failed</c> when the scorer could not score (the reason in <c>UndefinedReason</c>), <c>Details</c> what it measured beyond the number.
/// </summary>
public sealed record MethodScoreView(string Method, double? Score, string? UndefinedReason, bool Failed, JsonElement? Details);

/// <summary>One scored explanation; <c>Control</c> marks a shuffled control (another neuron's explanation, expected to score near 0).</summary>
public sealed record ExplanationView(
    string Explainer,
    string Simulator,
    bool Control,
    NeuronStatus Status,
    string? Reason,
    bool Chosen,
    string? Explanation,
    double? Score,
    IReadOnlyList<double>? ScoreInterval,
    string? UndefinedReason,
    double? Rsquared,
    double? AbsoluteDevExplained,
    IReadOnlyList<ScoredExcerptView> ScoredExcerpts,
    IReadOnlyList<MethodScoreView> Scores)
{
    /// <summary>The correlation over the scored top excerpts alone (null when undefined or not scored on top and random ones).</summary>
    public double? TopOnlyScore { get; init; }

    /// <summary>The correlation over the scored random excerpts alone.</summary>
    public double? RandomOnlyScore { get; init; }
}

public sealed record TokenValuesView(IReadOnlyList<string> Tokens, IReadOnlyList<double> Values);

public sealed record WeightBasedTokensView(TokenValuesView InputPositive, TokenValuesView InputNegative, TokenValuesView OutputPositive, TokenValuesView OutputNegative);

public sealed record RelatedNeuronView(int Layer, int Neuron, double Weight, string Kind, string Unit);

public sealed record MomentsView(double? Mean, double? Variance, double? Skewness, double? Kurtosis);

public sealed record NeuronView(
    int Layer,
    int Neuron,
    string Kind,
    string Unit,
    NeuronRef? Previous,
    NeuronRef? Next,
    double? MaxActivation,
    MomentsView? Moments,
    IReadOnlyList<ExplanationView> Explanations,
    IReadOnlyList<ExcerptView> TopExcerpts,
    IReadOnlyList<ExcerptView> RandomExcerpts,
    TokenValuesView? ActivationBasedTokens,
    WeightBasedTokensView? WeightBasedTokens,
    IReadOnlyList<RelatedNeuronView> Upstream,
    IReadOnlyList<RelatedNeuronView> Downstream)
{
    /// <summary>Share of the corpus's tokens where the unit fires (SAE latents); null for neurons.</summary>
    public double? Density { get; init; }

    /// <summary>The other units of the same kind in this layer (an attention head's fellow heads), in index order; empty for other kinds.</summary>
    public IReadOnlyList<NeuronRef> LayerUnits { get; init; } = [];

    /// <summary>The first MLP neuron of this layer, when this is another kind of unit and the store holds the layer's neurons.</summary>
    public NeuronRef? LayerNeuron { get; init; }
}

public sealed record ErrorView(string Error);
