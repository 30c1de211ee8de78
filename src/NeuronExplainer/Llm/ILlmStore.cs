using NeuronExplainer.Activations;

namespace NeuronExplainer.Llm;

/// <summary>A cached LLM response, keyed by the hash of the full request.</summary>
public sealed record LlmCacheEntry(string Key, string Model, string Request, string Response, DateTimeOffset CreatedAt);

/// <summary>One paid (or free) LLM call in the cost ledger.</summary>
public sealed record LedgerEntry(NeuronId? Neuron, string Model, string Purpose, int PromptTokens, int CompletionTokens, decimal Cost, bool FromCache, DateTimeOffset At)
{
    /// <summary>Of <see cref="PromptTokens"/>, those the provider's prompt cache served (priced at its cached rate).</summary>
    public int CachedPromptTokens { get; init; }
}

/// <summary>What <see cref="ILlmStore.TryClaimCall"/> found.</summary>
public enum CallClaim
{
    /// <summary>The mark is the caller's: it sends the request.</summary>
    Claimed,
    /// <summary>Another process sends the request now.</summary>
    HeldElsewhere,
    /// <summary>The answer is in the cache (asked for with <c>unlessCached</c>); nothing was marked.</summary>
    Cached,
}

/// <summary>What a call holds while in flight: its mark (<see cref="ILlmStore.TryClaimCall"/>) and its budget reservation, if any.</summary>
public sealed record CallHold(string Key, string Owner, string? Reservation);

/// <summary>The store's LLM budget: what its paid calls cost in all, the last budget a run gave, and the worst cases of calls in flight.</summary>
public sealed record LlmBudget(decimal Spent, decimal? MaxCost, decimal Reserved);

/// <summary>
/// The LLM cache/ledger role of a store: responses answered before, every call made, and the budget every process
/// working on the store shares.
/// </summary>
public interface ILlmStore
{
    LlmCacheEntry? GetCachedResponse(string key);
    /// <summary>
    /// Ledgers a call and, when given, caches its <paramref name="answer"/> and ends what it <paramref name="held"/> in
    /// flight; in the same transaction its cost is added to what the store's calls have cost (<see cref="LlmBudget.Spent"/>).
    /// One transaction, so a process killed after a paid call leaves either the answer and its cost both stored or neither,
    /// and no other process sees the call's reservation gone before its cost counts.
    /// </summary>
    void AddLedgerEntry(LedgerEntry entry, LlmCacheEntry? answer = null, CallHold? held = null);
    IReadOnlyList<LedgerEntry> ListLedger();

    /// <summary>
    /// Reserves <paramref name="amount"/> (a call's worst-case cost) of the budget <paramref name="maxCost"/> shared by every
    /// process on the store, atomically: granted (the reservation's id) when what the store's calls have cost, plus the
    /// live reservations of all processes, plus <paramref name="amount"/> stays within it; null otherwise. A reservation
    /// lasts until <see cref="ReleaseBudget"/> or <paramref name="until"/> (a killed process's lapses then).
    /// </summary>
    string? TryReserveBudget(decimal amount, decimal maxCost, DateTimeOffset until, DateTimeOffset now);

    /// <summary>
    /// Marks the request of cache key <paramref name="key"/> as being sent by <paramref name="owner"/> until
    /// <paramref name="until"/>, atomically: <see cref="CallClaim.HeldElsewhere"/> while another process sends it (it waits
    /// for that answer in the cache instead of paying for the same call), <see cref="CallClaim.Claimed"/> when none does, its
    /// mark lapsed, or it is the owner's own. With <paramref name="unlessCached"/>, a request already answered in the cache
    /// is not marked (<see cref="CallClaim.Cached"/>), in the same transaction, so a caller that found no answer before
    /// claiming need not read the cache again: another process's mark ends in the write that caches its answer.
    /// </summary>
    CallClaim TryClaimCall(string key, string owner, DateTimeOffset until, DateTimeOffset now, bool unlessCached = false);
    /// <summary>Extends every mark of <paramref name="owner"/> to <paramref name="until"/> (its calls still in flight).</summary>
    void RenewCalls(string owner, DateTimeOffset until);
    void ReleaseCall(string key, string owner);
    void ReleaseBudget(string reservation);
    LlmBudget GetBudget(DateTimeOffset now);
}
