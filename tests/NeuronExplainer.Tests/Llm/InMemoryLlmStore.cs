using System.Collections.Concurrent;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

/// <summary>
/// Test double holding only what the LLM pipeline uses: the response cache and the ledger. Shared between
/// two pipelines it stands for one store file reopened by a new process.
/// </summary>
internal sealed class InMemoryLlmStore : ILlmStore
{
    private readonly ConcurrentDictionary<string, LlmCacheEntry> _cache = new();
    private readonly ConcurrentQueue<LedgerEntry> _ledger = new();

    private int _cacheWrites;
    public int CacheWrites => Volatile.Read(ref _cacheWrites);

    public LlmCacheEntry? GetCachedResponse(string key) => _cache.GetValueOrDefault(key);
    public void PutCachedResponse(LlmCacheEntry entry) { _cache[entry.Key] = entry; Interlocked.Increment(ref _cacheWrites); }
    public void AddLedgerEntry(LedgerEntry entry) => _ledger.Enqueue(entry);
    public IReadOnlyList<LedgerEntry> ListLedger() => _ledger.ToList();

}
