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
    public void AddLedgerEntry(LedgerEntry entry, LlmCacheEntry? answer = null, CallHold? held = null)
    {
        lock (_reservations)
        {
            if (held is not null) ReleaseCall(held.Key, held.Owner);
            if (held?.Reservation is { } reservation) _reservations.Remove(reservation);
            if (answer is not null)
            {
                _cache[answer.Key] = answer;
                Interlocked.Increment(ref _cacheWrites);
            }
            _ledger.Enqueue(entry);
            _spent += entry.Cost;
        }
    }

    public IReadOnlyList<LedgerEntry> ListLedger() => _ledger.ToList();

    private readonly Dictionary<string, (decimal Amount, DateTimeOffset Until)> _reservations = [];
    private decimal _spent;
    private decimal? _max;

    public string? TryReserveBudget(decimal amount, decimal maxCost, DateTimeOffset until, DateTimeOffset now)
    {
        lock (_reservations)
        {
            _max = maxCost;
            if (_spent + _reservations.Values.Where(r => r.Until > now).Sum(r => r.Amount) + amount > maxCost) return null;
            string id = Guid.NewGuid().ToString("N");
            _reservations[id] = (amount, until);
            return id;
        }
    }

    private readonly Dictionary<string, (string Owner, DateTimeOffset Until)> _inFlight = [];

    public CallClaim TryClaimCall(string key, string owner, DateTimeOffset until, DateTimeOffset now, bool unlessCached = false)
    {
        // The same lock as AddLedgerEntry's cache write, so a claim never falls between another's answer and its mark's end.
        lock (_reservations)
        lock (_inFlight)
        {
            if (unlessCached && _cache.ContainsKey(key)) return CallClaim.Cached;
            if (_inFlight.TryGetValue(key, out var held) && held.Owner != owner && held.Until > now) return CallClaim.HeldElsewhere;
            _inFlight[key] = (owner, until);
            return CallClaim.Claimed;
        }
    }

    public void RenewCalls(string owner, DateTimeOffset until)
    {
        lock (_inFlight)
            foreach (var key in _inFlight.Where(p => p.Value.Owner == owner).Select(p => p.Key).ToList()) _inFlight[key] = (owner, until);
    }

    public void ReleaseCall(string key, string owner)
    {
        lock (_inFlight)
            if (_inFlight.TryGetValue(key, out var held) && held.Owner == owner) _inFlight.Remove(key);
    }

    public void ReleaseBudget(string reservation)
    {
        lock (_reservations) _reservations.Remove(reservation);
    }

    public LlmBudget GetBudget(DateTimeOffset now)
    {
        lock (_reservations) return new LlmBudget(_spent, _max, _reservations.Values.Where(r => r.Until > now).Sum(r => r.Amount));
    }

}
