using System.Globalization;
using System.Text;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Chat prompts of the LLM judge (detection and fuzzing). Everything that is the same for every neuron (the system text
/// and the few-shot exchanges built from <see cref="FewShotExamples"/>) comes first and is byte-identical across calls,
/// so provider prompt caches and vLLM's prefix cache can reuse it; the neuron's explanation and excerpts come last.
/// Each excerpt is one line of its escaped tokens (<see cref="PromptFormat.EscapeToken"/>); fuzzing marks tokens as
/// <c>&lt;&lt;token&gt;&gt;</c>, which no corpus token can fake: escaped tokens never hold a bare '&lt;' or '&gt;'.
/// </summary>
public static class JudgePrompts
{
    public const string Yes = "yes";
    public const string No = "no";
    public const string MarkOpen = "<<";
    public const string MarkClose = ">>";

    const string Study =
        "This is a study of single neurons inside a language model; each one responds to something specific in text. You are given an " +
        "explanation of what one neuron responds to and numbered excerpts of text, one per line. Inside excerpts, \\t, \\n, \\r, \\<, \\> and " +
        "\\\\ stand for a tab, a line break, a carriage return, '<', '>' and a backslash. ";

    const string DetectionTask =
        "For each excerpt, decide from the explanation alone whether the neuron fires strongly somewhere in it. Most excerpts of ordinary " +
        "text do not make a neuron fire.";

    const string FuzzingTask =
        "In every excerpt some tokens are marked like " + MarkOpen + "this" + MarkClose + ". For each excerpt, decide whether the marked tokens " +
        "are the ones the explanation says the neuron fires on, or tokens marked at random.";

    const string ReplyRule = " Reply with one line per excerpt, in order, holding only " + Yes + " or " + No + ".";

    /// <summary>The whole prompt for one batch of excerpts: the shared prefix, then the neuron's question.</summary>
    public static IReadOnlyList<ChatMessage> Messages(JudgeTask task, string explanation, IReadOnlyList<JudgedExcerpt> excerpts) =>
        [.. Prefix(task), ChatMessage.User(Question(explanation, excerpts))];

    /// <summary>The system text and few-shot exchanges, the same for every neuron of a task.</summary>
    public static IReadOnlyList<ChatMessage> Prefix(JudgeTask task) => task == JudgeTask.Detection ? DetectionPrefix : FuzzingPrefix;

    static readonly IReadOnlyList<ChatMessage> DetectionPrefix = BuildPrefix(JudgeTask.Detection);
    static readonly IReadOnlyList<ChatMessage> FuzzingPrefix = BuildPrefix(JudgeTask.Fuzzing);

    static List<ChatMessage> BuildPrefix(JudgeTask task)
    {
        var messages = new List<ChatMessage> { ChatMessage.System(Study + (task == JudgeTask.Detection ? DetectionTask : FuzzingTask) + ReplyRule) };
        var examples = FewShotExamples.All;
        for (int n = 0; n < examples.Count; n++)
        {
            var excerpts = task == JudgeTask.Detection ? DetectionExample(examples, n) : FuzzingExample(examples[n]);
            messages.Add(ChatMessage.User(Question(examples[n].Explanation, excerpts)));
            messages.Add(ChatMessage.Assistant(string.Join('\n', excerpts.Select(e => e.Positive ? Yes : No))));
        }
        return messages;
    }

    /// <summary>A few-shot neuron's own excerpts (yes), with the other example neurons' first excerpts between them (no).</summary>
    static List<JudgedExcerpt> DetectionExample(IReadOnlyList<FewShotExample> examples, int n)
    {
        var own = examples[n].Excerpts.Select(e => new JudgedExcerpt(e.Tokens, [], true)).ToList();
        var others = examples.Where((_, i) => i != n).Select(e => new JudgedExcerpt(e.Excerpts[0].Tokens, [], false)).ToList();
        return [own[0], .. others, .. own.Skip(1)];
    }

    /// <summary>A few-shot neuron's excerpts marked on their strongest tokens (yes), then marked on as many others (no).</summary>
    static List<JudgedExcerpt> FuzzingExample(FewShotExample example)
    {
        var right = new List<JudgedExcerpt>();
        var wrong = new List<JudgedExcerpt>();
        foreach (var e in example.Excerpts)
        {
            int max = e.Values.Max();
            int[] truly = [.. Enumerable.Range(0, e.Values.Count).Where(i => e.Values[i] >= JudgedExcerpts.HighlightShare * max)];
            right.Add(new JudgedExcerpt(e.Tokens, truly, true));
            // Deterministic stand-ins for random marks: the first tokens the neuron is silent on.
            wrong.Add(new JudgedExcerpt(e.Tokens, [.. Enumerable.Range(0, e.Values.Count).Where(i => e.Values[i] == 0).Take(truly.Length)], false));
        }
        return [right[0], wrong[1], wrong[0], right[2], right[1], wrong[2]];
    }

    static string Question(string explanation, IReadOnlyList<JudgedExcerpt> excerpts)
    {
        var sb = new StringBuilder("Explanation: ").Append(ExplainerPrompts.ExplanationPrefix).Append(' ').Append(explanation).Append("\n\n");
        for (int i = 0; i < excerpts.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"Excerpt {i + 1}: ");
            var marked = excerpts[i].Highlighted.ToHashSet();
            for (int t = 0; t < excerpts[i].Tokens.Count; t++)
            {
                string token = PromptFormat.EscapeToken(excerpts[i].Tokens[t]);
                sb.Append(marked.Contains(t) ? MarkOpen + token + MarkClose : token);
            }
            sb.Append('\n');
        }
        return sb.Append(CultureInfo.InvariantCulture, $"\nReply with exactly {excerpts.Count} lines, line i holding {Yes} or {No} for excerpt i.").ToString();
    }
}
