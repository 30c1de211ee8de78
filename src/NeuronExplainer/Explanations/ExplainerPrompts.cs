using System.Globalization;
using System.Text;
using NeuronExplainer.Activations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Chat prompts of the LLM explainers: the paper's token/activation-pair prompt, the token-lookup-table prompt
/// and the revision prompt. Every excerpt goes through <see cref="PromptFormat"/>, as in the simulator prompts.
/// </summary>
public static class ExplainerPrompts
{
    /// <summary>The sentence every explanation completes (the paper's explanation prefix).</summary>
    public const string ExplanationPrefix = "the main thing this neuron does is find";

    const string System =
        "You are studying single neurons inside a language model. Each neuron responds to something specific in text. " +
        "You will see short excerpts of text, one token per line in the form token<TAB>activation, with the neuron's " +
        "activation scaled to a whole number from 0 (silent) to 10 (its strongest response). Inside tokens, \\t, \\n, \\r, " +
        "\\<, \\> and \\\\ stand for a tab, a line break, a carriage return, '<', '>' and a backslash. " +
        "Work out what the neuron responds to and say it in one short phrase that completes the sentence \"" + ExplanationPrefix +
        " ...\". Describe the pattern rather than listing many example words. Reply with the phrase only.";

    /// <summary>The paper's explainer prompt: few-shot neurons, then the neuron's train excerpts with 0..10 values.</summary>
    public static IReadOnlyList<ChatMessage> TokenActivationPairs(IReadOnlyList<ActivationRecord> excerpts)
    {
        var messages = new List<ChatMessage> { ChatMessage.System(System) };
        foreach (var example in FewShotExamples.All)
        {
            messages.Add(ChatMessage.User(ExcerptsMessage(example.Excerpts.Select(e => (e.Tokens, e.Values)))));
            messages.Add(ChatMessage.Assistant(example.Explanation));
        }
        double max = PromptFormat.MaxActivation(excerpts);
        messages.Add(ChatMessage.User(ExcerptsMessage(excerpts.Select(r => (r.Tokens, (IReadOnlyList<int>)PromptFormat.Normalize(r.Activations, max))))));
        return messages;
    }

    const string HeadSystem =
        "You are studying single attention heads inside a language model. At every token an attention head reads from earlier " +
        "tokens (or the token itself) and writes what it read into the model; its activation at a token is how much it writes " +
        "there. You will see short excerpts of text, one token per line in the form token<TAB>activation, with the head's " +
        "activation scaled to a whole number from 0 (writes nothing) to 10 (its strongest write), and after each excerpt, for the " +
        "tokens where it is active, the tokens it attends to most, one pair per line in the form query token <- attended token " +
        "(attention weight from 0 to 1). Inside tokens, \\t, \\n, \\r, \\<, \\> and \\\\ stand for a tab, a line break, a " +
        "carriage return, '<', '>' and a backslash. Work out on which tokens the head is active and what it reads there, and say " +
        "it in one short phrase that completes the sentence \"" + ExplanationPrefix + " ...\" (the head is treated as one unit " +
        "with one value per token, as a neuron is). Describe the pattern rather than listing many example words. Reply with the phrase only.";

    /// <summary>
    /// Our own made-up head for the head prompt: excerpts with 0..10 values and, per active token, what it attends to
    /// (position, weight), and the explanation we want.
    /// </summary>
    static readonly (string Explanation, (string[] Tokens, int[] Values, (int Query, int Source, double Weight)[] Attended)[] Excerpts) HeadExample =
        ("a name or noun that repeats one mentioned earlier, reading back from the earlier mention",
        [
            ([" Once", " upon", " a", " time", ",", " Tom", " had", " a", " red", " ball", ".", " Tom", " threw", " the", " ball", "."],
             [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 2, 10, 0],
             [(5, 5, 0.48), (11, 5, 0.71), (11, 10, 0.12), (13, 7, 0.30), (14, 9, 0.80), (14, 8, 0.09)]),
            (["Sue", " and", " Max", " went", " to", " the", " park", ".", " Max", " ran", " and", " Sue", " sat", "."],
             [0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 7, 0, 0],
             [(8, 2, 0.76), (8, 7, 0.10), (11, 0, 0.64), (11, 1, 0.15)]),
        ]);

    /// <summary>
    /// Our explainer prompt for an attention head: per train excerpt the tokens with 0..10 values, then for each token with a
    /// value above 0 the tokens it attends to most as <c>query token &lt;- attended token (weight)</c> lines (those of weight at
    /// least <see cref="ShownAttention"/>, at least the strongest), after one few-shot head of the same form.
    /// </summary>
    public static IReadOnlyList<ChatMessage> HeadTokenPairs(IReadOnlyList<ActivationRecord> excerpts)
    {
        var example = HeadExample.Excerpts.Select(e => (e.Tokens, e.Values,
            Attended: e.Tokens.Select((_, t) => (IReadOnlyList<AttendedToken>)[.. e.Attended.Where(a => a.Query == t).Select(a => new AttendedToken(a.Source, a.Weight))]).ToArray()));
        double max = PromptFormat.MaxActivation(excerpts);
        var shown = excerpts.Select(r => (r.Tokens, (IReadOnlyList<int>)PromptFormat.Normalize(r.Activations, max),
            r.Attended ?? throw new ArgumentException("a head's excerpts need their attended tokens", nameof(excerpts))));
        return
        [
            ChatMessage.System(HeadSystem),
            ChatMessage.User(HeadExcerptsMessage(example.Select(e => ((IReadOnlyList<string>)e.Tokens, (IReadOnlyList<int>)e.Values, (IReadOnlyList<IReadOnlyList<AttendedToken>>)e.Attended)))),
            ChatMessage.Assistant(HeadExample.Explanation),
            ChatMessage.User(HeadExcerptsMessage(shown)),
        ];
    }

    /// <summary>Attention weights below this are left out of a head prompt's pairs (each active token keeps its strongest).</summary>
    public const double ShownAttention = 0.1;

    static string HeadExcerptsMessage(IEnumerable<(IReadOnlyList<string> Tokens, IReadOnlyList<int> Values, IReadOnlyList<IReadOnlyList<AttendedToken>> Attended)> excerpts)
    {
        var sb = new StringBuilder("Head activations:\n");
        foreach (var (tokens, values, attended) in excerpts)
        {
            PromptFormat.AppendExcerpt(sb, tokens, values);
            sb.Append("Attended tokens (query token <- attended token (weight)):\n");
            for (int t = 0; t < tokens.Count; t++)
            {
                if (values[t] == 0) continue;
                foreach (var (source, j) in attended[t].Select((a, j) => (a, j)).Where(p => p.j == 0 || p.a.Weight >= ShownAttention))
                    sb.Append(PromptFormat.EscapeToken(tokens[t])).Append(" <- ").Append(PromptFormat.EscapeToken(tokens[source.Position]))
                      .Append(" (").Append(source.Weight.ToString("0.00", CultureInfo.InvariantCulture)).Append(")\n");
            }
        }
        return sb.Append(Ask).ToString();
    }

    const string LookupSystem =
        "You are studying single neurons inside a language model. Some neurons respond to one kind of token (a word or a piece " +
        "of a word) wherever it appears. You will see the tokens on which a neuron is most active on average over a large corpus, " +
        "most active first, one token per line, without any numbers. Inside tokens, \\t, \\n, \\r, \\<, \\> and \\\\ stand for a tab, " +
        "a line break, a carriage return, '<', '>' and a backslash; a leading space is part of the token. Work out what the tokens " +
        "have in common and say it in one short phrase that completes the sentence \"" + ExplanationPrefix + " ...\". Name the kind " +
        "of token rather than repeating the list. Reply with the phrase only.";

    /// <summary>Our own made-up neuron for the lookup-table prompt: its top tokens and the explanation we want.</summary>
    static readonly (string[] Tokens, string Explanation) LookupExample =
        ([" rain", " storm", " puddles", " drizzle", " umbrella", " thunder", " wet", " showers", " soaked", " clouds"], FewShotExamples.All[0].Explanation);

    /// <summary>
    /// The paper's token-lookup-table variant: only the tokens with the highest mean activation, highest first, without
    /// their values (the explainer sees which tokens, not how much), after one few-shot neuron of the same form.
    /// </summary>
    public static IReadOnlyList<ChatMessage> TokenLookupTable(TokenLookupTableSummaryOfNeuron table, int maxTokens = 50) =>
    [
        ChatMessage.System(LookupSystem),
        ChatMessage.User(TokenListMessage(LookupExample.Tokens)),
        ChatMessage.Assistant(LookupExample.Explanation),
        ChatMessage.User(TokenListMessage(table.Tokens.Take(maxTokens))),
    ];

    static string TokenListMessage(IEnumerable<string> tokens)
    {
        var sb = new StringBuilder("Tokens on which the neuron is most active on average:\n").Append(PromptFormat.StartMarker).Append('\n');
        foreach (var token in tokens) sb.Append(PromptFormat.EscapeToken(token)).Append('\n');
        return sb.Append(PromptFormat.EndMarker).Append('\n').Append(Ask).ToString();
    }

    /// <summary>
    /// The revision prompt: the current explanation and the excerpts it predicts worst, each shown with the real
    /// values and the values simulated from the explanation, asking for a better explanation.
    /// </summary>
    public static IReadOnlyList<ChatMessage> Revision(string current, IReadOnlyList<Counterexample> counterexamples, double maxActivation)
    {
        var sb = new StringBuilder("Someone explained this neuron as: ").Append(ExplanationPrefix).Append(' ').Append(current)
            .Append("\nA simulator predicted the neuron's activations from that explanation alone. On these excerpts the predictions were furthest off.\n");
        foreach (var c in counterexamples)
        {
            sb.Append("\nReal activations:\n");
            PromptFormat.AppendExcerpt(sb, c.Record.Tokens, PromptFormat.Normalize(c.Record.Activations, maxActivation));
            sb.Append("Activations predicted from the explanation:\n");
            PromptFormat.AppendExcerpt(sb, c.Simulation.Tokens,
                [.. c.Simulation.ExpectedActivations.Select(v => (int)Math.Clamp(Math.Round(v), 0, PromptFormat.MaxNormalizedActivation))]);
        }
        sb.Append("\nWrite a revised explanation that also accounts for these excerpts. ").Append(Ask);
        return [ChatMessage.System(System), ChatMessage.User(sb.ToString())];
    }

    const string Ask = "Complete the sentence: " + ExplanationPrefix;

    static string ExcerptsMessage(IEnumerable<(IReadOnlyList<string> Tokens, IReadOnlyList<int> Values)> excerpts)
    {
        var sb = new StringBuilder("Neuron activations:\n");
        foreach (var (tokens, values) in excerpts)
        {
            PromptFormat.AppendExcerpt(sb, tokens, values);
            PromptFormat.AppendNonZeroRepeat(sb, tokens, values);
        }
        return sb.Append(Ask).ToString();
    }

    /// <summary>
    /// The explanation in a reply: its first non-empty line, without a repeated prefix, quotes or final full stop.
    /// </summary>
    public static string ParseReply(string reply)
    {
        string line = reply.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        int at = line.IndexOf(ExplanationPrefix, StringComparison.OrdinalIgnoreCase);
        if (at >= 0) line = line[(at + ExplanationPrefix.Length)..].Trim();
        line = line.Trim('"', '\'', ' ');
        return line.EndsWith('.') ? line[..^1].TrimEnd() : line;
    }
}
