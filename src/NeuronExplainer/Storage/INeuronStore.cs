using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Storage;

/// <summary>Markers around matched words in <see cref="IExplanationSearch.SearchExplanations"/> results (control characters, so
/// they never clash with explanation text and a viewer can escape the text before turning them into markup).</summary>
public static class SearchHighlight
{
    public const string Open = "\u0002";
    public const string Close = "\u0003";
}

/// <summary>A worker (a process running explain, score or run) seen by the claims it holds: its owner id (host:pid:run) and their count.</summary>
public sealed record ClaimHolder(string Owner, int Claims, DateTimeOffset Until);

/// <summary>
/// What the workers on a store do now: who holds live claims, how many claims lapsed (killed workers'), and since a
/// moment the results written and the paid LLM calls with their cost.
/// </summary>
public sealed record StoreActivity(IReadOnlyList<ClaimHolder> Workers, int LapsedClaims, int ResultsSince, int PaidCallsSince, decimal CostSince);

/// <summary>The search role of a store: full-text search over every stored explanation.</summary>
public interface IExplanationSearch
{
    /// <summary>
    /// Full-text search over explanations, best match first, with the matched text highlighted; with <paramref name="kind"/>,
    /// only explanations of units of that kind: <c>neuron</c>, <c>head</c>, <c>sae</c> (every SAE) or <c>sae:ID</c> (one SAE).
    /// </summary>
    IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit, string? kind = null);
}

/// <summary>
/// The store of one run: every role the stages use (each declared by the stage that uses it), over one backend.
/// SQLite is the default; a PostgreSQL store can follow without touching the stages. Every Put is one
/// transaction: it lands whole or not at all.
/// </summary>
public interface INeuronStore : ICollectionOutput, IExplanationResultStore, ILlmStore, IExplanationSearch, IDisposable
{
    /// <summary>
    /// Runs several Puts as one transaction (e.g. a whole import): all of them land or none. Other
    /// threads' writes wait until it ends.
    /// </summary>
    void Batch(Action writes);

    /// <summary>Per explainer/simulator pair and layer, the result counts and score totals, kept up to date by every write.</summary>
    IReadOnlyList<PairLayerScores> ListPairLayerScores();

    /// <summary>Per explainer/simulator pair, layer, unit kind and scoring method, the method score totals, kept up to date by every write.</summary>
    IReadOnlyList<MethodLayerScores> ListMethodLayerScores();

    /// <summary>The <paramref name="count"/> best (or worst) scored neurons of a pair, ties by layer and neuron (reversed for the worst).</summary>
    IReadOnlyList<NeuronScore> ExtremeScores(string explainer, string simulator, int count, bool best);

    /// <summary>How many neurons the store knows per layer.</summary>
    IReadOnlyDictionary<int, int> CountNeuronsByLayer();

    /// <summary>The workers' claims at <paramref name="now"/>, and the results and paid calls since <paramref name="since"/> (UTC).</summary>
    StoreActivity GetActivity(DateTimeOffset since, DateTimeOffset now);

    /// <summary>How many units the store knows per layer and kind (<see cref="NeuronId.KindKey"/>), ordered by layer and kind.</summary>
    IReadOnlyList<(int Layer, string Kind, int Count)> CountUnits();
}
