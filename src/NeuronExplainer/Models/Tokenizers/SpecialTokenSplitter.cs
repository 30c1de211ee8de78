namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// Cuts text at occurrences of special tokens (GPT-2's <c>&lt;|endoftext|&gt;</c>, added tokens of a
/// tokenizer.json) so they become their own ids, as Hugging Face tokenizers do, instead of being
/// spelled out as ordinary text. At one position the longest special token wins.
/// </summary>
internal sealed class SpecialTokenSplitter(IReadOnlyList<(string Text, int Id)> specialTokens)
{
    public bool IsEmpty => specialTokens.Count == 0;

    /// <summary>Calls <paramref name="ordinary"/> for each stretch of plain text and adds special ids in between.</summary>
    public void Split(string text, List<int> ids, Action<ReadOnlyMemory<char>, List<int>> ordinary)
    {
        int position = 0;
        while (position < text.Length)
        {
            int bestAt = -1, bestLength = 0, bestId = 0;
            foreach (var (special, id) in specialTokens)
            {
                int at = text.IndexOf(special, position, StringComparison.Ordinal);
                if (at < 0) continue;
                if (bestAt < 0 || at < bestAt || (at == bestAt && special.Length > bestLength))
                    (bestAt, bestLength, bestId) = (at, special.Length, id);
            }
            if (bestAt < 0) break;
            if (bestAt > position) ordinary(text.AsMemory(position, bestAt - position), ids);
            ids.Add(bestId);
            position = bestAt + bestLength;
        }
        if (position < text.Length) ordinary(text.AsMemory(position), ids);
    }
}
