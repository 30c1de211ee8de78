using System.CommandLine;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer ledger</c>: what a run's LLM calls cost, by model, purpose, layer or neuron.</summary>
public static class LedgerCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory holding store.db, or a postgresql:// store URL", Required = true };
        var by = new Option<string>("--by") { Description = "Group by model, purpose, layer or neuron", DefaultValueFactory = _ => "model" };
        by.AcceptOnlyFromAmong([.. LedgerTotals.Groupings]);
        var top = new Option<int>("--top") { Description = "Show at most this many groups (most expensive first)", DefaultValueFactory = _ => 20 };
        var command = new Command("ledger", """
            Show the cost ledger of a run: LLM calls sent and answered from our cache, prompt tokens (and those the
            provider served from its prompt cache), completion tokens and US dollars, grouped by model, purpose (explain/simulate), layer or neuron.

            Examples:
              neuron-explainer ledger --store runs/gpt2
              neuron-explainer ledger --store runs/gpt2 --by neuron --top 10
            """)
        {
            store, by, top,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            int limit = parse.GetValue(top);
            if (limit < 1) throw new NeuronExplainerException($"--top must be at least 1, got {limit}");
            using var opened = NeuronStores.OpenExisting(parse.GetRequiredValue(store), StoreAccess.ReadOnly);
            var ledger = opened.ListLedger();
            var total = LedgerTotals.Of("total", ledger);
            output.WriteLine($"LLM ledger of {opened.Location}: {total.Calls:N0} call(s) sent, {total.CachedCalls:N0} answered from cache; "
                + $"{total.PromptTokens:N0} prompt ({total.CachedPromptTokens:N0} of them from the provider's prompt cache) + {total.CompletionTokens:N0} completion tokens; ${total.Cost:0.####}");
            if (ledger.Count == 0) return 0;
            var groups = LedgerTotals.Summarize(ledger, parse.GetValue(by)!);
            string[] header = [parse.GetValue(by)!, "sent", "cached", "prompt tokens", "prompt-cached", "completion tokens", "cost $"];
            var rows = groups.Take(limit).Select(g => new[]
            {
                g.Group, g.Calls.ToString("N0"), g.CachedCalls.ToString("N0"), g.PromptTokens.ToString("N0"), g.CachedPromptTokens.ToString("N0"), g.CompletionTokens.ToString("N0"), g.Cost.ToString("0.####"),
            }).ToList();
            var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
            foreach (var row in rows.Prepend(header))
                output.WriteLine(string.Join("  ", row.Select((cell, i) => i == 0 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))));
            if (groups.Count > limit) output.WriteLine($"... and {groups.Count - limit} more (--top)");
            return 0;
        });
        return command;
    }
}
