using System.Collections.Concurrent;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Llm;

/// <summary>
/// Test double holding only what the LLM pipeline uses: the response cache and the ledger. Shared between
/// two pipelines it stands for one store file reopened by a new process.
/// </summary>
internal sealed class InMemoryLlmStore : INeuronStore
{
    private readonly ConcurrentDictionary<string, LlmCacheEntry> _cache = new();
    private readonly ConcurrentQueue<LedgerEntry> _ledger = new();

    public string Location => "memory";
    private int _cacheWrites;
    public int CacheWrites => Volatile.Read(ref _cacheWrites);

    public LlmCacheEntry? GetCachedResponse(string key) => _cache.GetValueOrDefault(key);
    public void PutCachedResponse(LlmCacheEntry entry) { _cache[entry.Key] = entry; Interlocked.Increment(ref _cacheWrites); }
    public void AddLedgerEntry(LedgerEntry entry) => _ledger.Enqueue(entry);
    public IReadOnlyList<LedgerEntry> ListLedger() => _ledger.ToList();

    public RunManifest? GetManifest() => throw new NotSupportedException();
    public void Batch(Action writes) => throw new NotSupportedException();
    public void PutManifest(RunManifest manifest) => throw new NotSupportedException();
    public void PutNeuronRecords(IReadOnlyList<NeuronRecord> records) => throw new NotSupportedException();
    public NeuronRecord? GetNeuronRecord(NeuronId id) => throw new NotSupportedException();
    public IReadOnlyList<NeuronId> ListNeurons(int? layer = null) => throw new NotSupportedException();
    public IReadOnlyList<int> ListLayers() => throw new NotSupportedException();
    public void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table) => throw new NotSupportedException();
    public TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id) => throw new NotSupportedException();
    public void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary) => throw new NotSupportedException();
    public WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id) => throw new NotSupportedException();
    public void PutConnections(NeuronId id, NeuronConnections connections) => throw new NotSupportedException();
    public NeuronConnections? GetConnections(NeuronId id) => throw new NotSupportedException();
    public void PutCheckpoint(string stage, byte[] state) => throw new NotSupportedException();
    public byte[]? GetCheckpoint(string stage) => throw new NotSupportedException();
    public void DeleteCheckpoint(string stage) => throw new NotSupportedException();
    public void PutExplanationResult(NeuronExplanationResult result) => throw new NotSupportedException();
    public NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator) => throw new NotSupportedException();
    public IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null) => throw new NotSupportedException();
    public IReadOnlyList<NeuronExplanationResult> GetExplanationResults(NeuronId id) => throw new NotSupportedException();
    public IReadOnlyList<NeuronScore> ListScores(int? layer = null) => throw new NotSupportedException();
    public IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit) => throw new NotSupportedException();
    public void Dispose() { }
}
