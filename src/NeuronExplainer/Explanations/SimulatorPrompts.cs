using System.Globalization;
using System.Text;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Prompts of the LLM simulators and the reading of value distributions from logprobs. The excerpt lines are
/// those of the explainer prompts (<see cref="PromptFormat"/>), with "unknown" where a value is to be predicted.
/// </summary>
public static class SimulatorPrompts
{
    public const string Unknown = "unknown";

    const string Intro =
        "This is a study of single neurons inside a language model; each one responds to something specific in text. Given an explanation " +
        "of what a neuron does, predict its activation on every token of an excerpt. Excerpts have one token per line in the form " +
        "token<TAB>activation; activations are whole numbers from 0 (silent) to 10 (strongest), and \"" + Unknown + "\" marks one still " +
        "to be predicted. A neuron is silent (0) on most tokens. Inside tokens, \\t, \\n, \\r, \\<, \\> and \\\\ stand for a tab, a line break, " +
        "a carriage return, '<', '>' and a backslash.";

    /// <summary>
    /// The paper's all-at-once prompt for a completions model: the few-shot neurons, every excerpt of each with
    /// "unknown" up to its reveal point and the real values after it (so the examples show the very continuation
    /// asked for: a value where "unknown" stands), then the neuron with "unknown" in every value slot. Returns the
    /// character offset of each slot of that last excerpt.
    /// </summary>
    public static (string Prompt, int[] ValueOffsets) AllAtOnce(string explanation, IReadOnlyList<string> tokens)
    {
        var sb = new StringBuilder(Intro).Append("\n\n");
        int number = 1;
        foreach (var example in FewShotExamples.All)
        {
            AppendHeader(sb, number++, example.Explanation);
            foreach (var excerpt in example.Excerpts)
                PromptFormat.AppendExcerpt(sb, excerpt.Tokens, excerpt.Values, Unknown, excerpt.RevealFrom);
            sb.Append('\n');
        }
        AppendHeader(sb, number, explanation);
        var offsets = PromptFormat.AppendExcerpt(sb, tokens, null, Unknown);
        return (sb.ToString(), offsets);
    }

    static void AppendHeader(StringBuilder sb, int number, string explanation) =>
        sb.Append(CultureInfo.InvariantCulture, $"Neuron {number}\nWhat neuron {number} does: ")
          .Append(ExplainerPrompts.ExplanationPrefix).Append(' ').Append(explanation).Append("\nActivations:\n");

    /// <summary>
    /// The chat prompt: one few-shot exchange per excerpt of every example (the question exactly as the real one is
    /// asked, the answer exactly as the reply must be: one value per line), then the excerpt asked about.
    /// </summary>
    public static IReadOnlyList<ChatMessage> Chat(string explanation, IReadOnlyList<string> tokens)
    {
        var messages = new List<ChatMessage> { ChatMessage.System(Intro + " Reply with the values only, one per line, in token order.") };
        foreach (var example in FewShotExamples.All)
            foreach (var excerpt in example.Excerpts)
            {
                messages.Add(ChatMessage.User(ChatQuestion(example.Explanation, excerpt.Tokens)));
                messages.Add(ChatMessage.Assistant(string.Join('\n', excerpt.Values)));
            }
        messages.Add(ChatMessage.User(ChatQuestion(explanation, tokens)));
        return messages;
    }

    static string ChatQuestion(string explanation, IReadOnlyList<string> tokens)
    {
        var sb = new StringBuilder("Explanation: ").Append(ExplainerPrompts.ExplanationPrefix).Append(' ').Append(explanation).Append('\n');
        PromptFormat.AppendExcerpt(sb, tokens, null, Unknown);
        return sb.Append(CultureInfo.InvariantCulture, $"Reply with exactly {tokens.Count} lines, line i holding the activation of token i.").ToString();
    }

    /// <summary>
    /// Probabilities of the values 0..10 among a position's top alternatives (surrounding whitespace ignored),
    /// renormalised over those values; null when no alternative is a value.
    /// </summary>
    public static double[]? ValueDistribution(IReadOnlyList<TopLogprob> alternatives) => Renormalize(ValueMass(alternatives));

    /// <summary>Probability mass of each value 0..10 among a position's top alternatives, not yet renormalised.</summary>
    internal static double[] ValueMass(IReadOnlyList<TopLogprob> alternatives)
    {
        var p = new double[PromptFormat.MaxNormalizedActivation + 1];
        foreach (var alternative in alternatives)
            if (PromptFormat.ParseValue(alternative.Token) is int value)
                p[value] += Math.Exp(alternative.Logprob);
        return p;
    }

    internal static double[]? Renormalize(double[] p)
    {
        double total = p.Sum();
        if (!(total > 0) || !double.IsFinite(total)) return null;
        for (int i = 0; i < p.Length; i++) p[i] /= total;
        return p;
    }

    static readonly IReadOnlyList<double> Values = [.. Enumerable.Range(0, PromptFormat.MaxNormalizedActivation + 1).Select(v => (double)v)];

    /// <summary>
    /// A simulation from per-token distributions over 0..10, expected value per token. An empty distribution marks a
    /// slot whose top logprobs held no value: its expected value is 0 and its distribution stays empty, as OpenAI records it.
    /// </summary>
    public static SequenceSimulation FromDistributions(IReadOnlyList<string> tokens, IReadOnlyList<double[]> distributions, string method) =>
        new(tokens, [.. distributions.Select(p => p.Select((q, v) => q * v).Sum())], ActivationScale.SimulatedNormalizedActivations,
            [.. distributions.Select(p => p.Length == 0 ? [] : Values)], [.. distributions.Select(p => (IReadOnlyList<double>)p)])
        { Method = method };

    /// <summary>Where each token starts in the text: the server's offsets when given, else the running sum of token lengths.</summary>
    internal static int[] TokenStarts(IReadOnlyList<TokenLogprob> tokens)
    {
        var starts = new int[tokens.Count];
        int position = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            starts[i] = tokens[i].TextOffset ?? position;
            position = starts[i] + tokens[i].Token.Length;
        }
        return starts;
    }

    /// <summary>Index of the token covering character <paramref name="offset"/>, or -1 if none does.</summary>
    internal static int TokenAt(int[] starts, IReadOnlyList<TokenLogprob> tokens, int offset)
    {
        int index = Array.BinarySearch(starts, offset);
        if (index < 0) index = ~index - 1;
        // Offsets can repeat (empty tokens); take the last token starting at or before the offset that covers it.
        return index >= 0 && offset < starts[index] + Math.Max(1, tokens[index].Token.Length) ? index : -1;
    }
}
