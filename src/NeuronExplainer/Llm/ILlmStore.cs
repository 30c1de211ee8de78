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

/// <summary>The LLM cache/ledger role of a store: responses answered before, and every call made.</summary>
public interface ILlmStore
{
    LlmCacheEntry? GetCachedResponse(string key);
    void PutCachedResponse(LlmCacheEntry entry);
    void AddLedgerEntry(LedgerEntry entry);
    IReadOnlyList<LedgerEntry> ListLedger();
}
