
namespace NeuronExplainer.Llm;

/// <summary>Totals of a group of ledger entries: calls sent, calls answered from cache, tokens and cost.</summary>
public sealed record LedgerTotals(string Group, int Calls, int CachedCalls, long PromptTokens, long CompletionTokens, decimal Cost)
{
    /// <summary>Of <see cref="PromptTokens"/>, those the provider's prompt cache served (billed at its cached rate).</summary>
    public long CachedPromptTokens { get; init; }

    /// <summary>How the ledger can be grouped.</summary>
    public static readonly IReadOnlyList<string> Groupings = ["model", "purpose", "layer", "neuron"];

    /// <summary>
    /// Totals per group, most expensive first (ties by name). Tokens count sent calls only: cached answers
    /// were paid for by the entry that sent them.
    /// </summary>
    public static IReadOnlyList<LedgerTotals> Summarize(IEnumerable<LedgerEntry> ledger, string by)
    {
        Func<LedgerEntry, string> key = by switch
        {
            "model" => e => e.Model,
            "purpose" => e => e.Purpose,
            "layer" => e => e.Neuron is { } n ? $"layer {n.LayerIndex}" : "(no neuron)",
            "neuron" => e => e.Neuron?.ToString() ?? "(no neuron)",
            _ => throw new NeuronExplainerException($"cannot group the ledger by '{by}'; expected one of {string.Join(", ", Groupings)}"),
        };
        return ledger.GroupBy(key).Select(g => Of(g.Key, g)).OrderByDescending(t => t.Cost).ThenBy(t => t.Group, StringComparer.Ordinal).ToList();
    }

    public static LedgerTotals Of(string group, IEnumerable<LedgerEntry> entries)
    {
        int calls = 0, cached = 0;
        long prompt = 0, cachedPrompt = 0, completion = 0;
        decimal cost = 0;
        foreach (var e in entries)
        {
            cost += e.Cost;
            if (e.FromCache) { cached++; continue; }
            calls++;
            prompt += e.PromptTokens;
            cachedPrompt += e.CachedPromptTokens;
            completion += e.CompletionTokens;
        }
        return new LedgerTotals(group, calls, cached, prompt, completion, cost) { CachedPromptTokens = cachedPrompt };
    }
}
