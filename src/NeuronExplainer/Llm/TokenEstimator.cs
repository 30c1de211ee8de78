using System.Text;
using System.Text.RegularExpressions;

namespace NeuronExplainer.Llm;

/// <summary>
/// Token counts before a call: an estimate for dry runs and a guaranteed upper bound for the budget.
/// </summary>
internal static partial class TokenEstimator
{
    // Chat formats wrap each message in a few special tokens (role, separators), plus the reply's start.
    private const int PerMessageOverhead = 4;
    private const int ReplyOverhead = 3;
    // Bound on special tokens a chat template can add per message (Llama 3 adds 4-5, ChatML 3-4).
    private const int PerMessageOverheadBound = 8;

    /// <summary>
    /// Estimated BPE tokens: pieces as a GPT-style pre-tokenizer splits them (words with their leading space,
    /// digit runs of up to 3, punctuation, whitespace), pieces over 10 characters counted as one token per 5.
    /// Against GPT-2's BPE on all 3,609 WebText test documents the total is within 1% (per document 5%..95%:
    /// 0.88..1.10 of the real count); see TokenEstimateAccuracyTests.
    /// </summary>
    public static int Estimate(string text)
    {
        int tokens = 0;
        foreach (var piece in Pieces().EnumerateMatches(text))
            tokens += piece.Length <= 10 ? 1 : (piece.Length + 4) / 5;
        return tokens;
    }

    /// <summary>
    /// An upper bound on the tokens of any byte-level tokenizer: every token covers at least one UTF-8 byte.
    /// </summary>
    public static int UpperBound(string text) => Encoding.UTF8.GetByteCount(text);

    public static int EstimatePrompt(ChatRequest request) =>
        request.Messages.Sum(m => Estimate(m.Content) + PerMessageOverhead) + ReplyOverhead;

    public static int PromptUpperBound(ChatRequest request) =>
        request.Messages.Sum(m => UpperBound(m.Content) + UpperBound(m.Role) + PerMessageOverheadBound) + PerMessageOverheadBound;

    [GeneratedRegex(@" ?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+")]
    private static partial Regex Pieces();
}
