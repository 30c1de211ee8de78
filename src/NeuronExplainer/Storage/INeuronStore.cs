using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>What a run was made from, so a store is never mixed with another run's settings.</summary>
public sealed record RunManifest(
    string Model,
    string Corpus,
    IReadOnlyDictionary<string, string> Settings,
    string ToolVersion,
    DateTimeOffset CreatedAt);

/// <summary>Where a neuron's explain/score work stands.</summary>
public enum NeuronStatus { Pending, Done, Failed, NoActivations }

/// <summary>
/// The explanations of one neuron by one explainer/simulator pair, scored, with the one chosen on
/// calibration and its score on valid. A failed neuron has a reason and no invented scores.
/// </summary>
public sealed record NeuronExplanationResult(
    NeuronId Neuron,
    string Explainer,
    string Simulator,
    NeuronStatus Status,
    string? Reason,
    NeuronSimulationResults? Results,
    int? ChosenIndex,
    DateTimeOffset UpdatedAt);

/// <summary>
/// One row of a layer listing: a neuron's chosen explanation and its score, read without parsing
/// the stored results (null where none was chosen or the score is undefined).
/// </summary>
public sealed record NeuronScore(NeuronId Neuron, string Explainer, string Simulator, NeuronStatus Status, string? Explanation, double? Score);

/// <summary>Markers around matched words in <see cref="INeuronStore.SearchExplanations"/> results (control characters, so
/// they never clash with explanation text and a viewer can escape the text before turning them into markup).</summary>
public static class SearchHighlight
{
    public const string Open = "\u0002";
    public const string Close = "\u0003";
}

/// <summary>A cached LLM response, keyed by the hash of the full request.</summary>
public sealed record LlmCacheEntry(string Key, string Model, string Request, string Response, DateTimeOffset CreatedAt);

/// <summary>One paid (or free) LLM call in the cost ledger.</summary>
public sealed record LedgerEntry(NeuronId? Neuron, string Model, string Purpose, int PromptTokens, int CompletionTokens, decimal Cost, bool FromCache, DateTimeOffset At);

/// <summary>
/// The store of one run. SQLite is the default; the interface is kept small so a PostgreSQL store can
/// follow without touching the stages. Every Put is one transaction: it lands whole or not at all.
/// </summary>
public interface INeuronStore : IDisposable
{
    string Location { get; }

    /// <summary>
    /// Runs several Puts as one transaction (e.g. a whole import): all of them land or none. Other
    /// threads' writes wait until it ends.
    /// </summary>
    void Batch(Action writes);

    RunManifest? GetManifest();
    void PutManifest(RunManifest manifest);

    void PutNeuronRecords(IReadOnlyList<NeuronRecord> records);
    NeuronRecord? GetNeuronRecord(NeuronId id);
    IReadOnlyList<NeuronId> ListNeurons(int? layer = null);
    IReadOnlyList<int> ListLayers();

    void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table);
    TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id);
    void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary);
    WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id);
    void PutConnections(NeuronId id, NeuronConnections connections);
    NeuronConnections? GetConnections(NeuronId id);

    /// <summary>Opaque resumable state of a long stage (e.g. collection), saved atomically.</summary>
    void PutCheckpoint(string stage, byte[] state);
    byte[]? GetCheckpoint(string stage);
    void DeleteCheckpoint(string stage);

    void PutExplanationResult(NeuronExplanationResult result);
    NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator);
    /// <summary>Every explainer/simulator result of one neuron, in the order they were first stored.</summary>
    IReadOnlyList<NeuronExplanationResult> GetExplanationResults(NeuronId id);
    IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null);

    /// <summary>Chosen explanation and score of every result, cheap enough for a listing of tens of thousands of neurons.</summary>
    IReadOnlyList<NeuronScore> ListScores(int? layer = null);

    /// <summary>Full-text search over explanations, best match first, with the matched text highlighted.</summary>
    IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit);

    LlmCacheEntry? GetCachedResponse(string key);
    void PutCachedResponse(LlmCacheEntry entry);
    void AddLedgerEntry(LedgerEntry entry);
    IReadOnlyList<LedgerEntry> ListLedger();
}
