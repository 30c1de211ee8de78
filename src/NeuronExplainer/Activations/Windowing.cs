namespace NeuronExplainer.Activations;

/// <summary>An excerpt: consecutive tokens of one document, numbered in corpus order.</summary>
public readonly record struct TokenWindow(long Id, int[] Tokens);

/// <summary>
/// Cuts a tokenized document into consecutive, non-overlapping windows of <c>seqLen</c> tokens.
/// A final shorter window is kept only if it holds at least half of <c>seqLen</c> tokens.
/// </summary>
public static class Windowing
{
    public static IEnumerable<int[]> Cut(int[] tokens, int seqLen)
    {
        for (int start = 0; start < tokens.Length; start += seqLen)
        {
            int length = Math.Min(seqLen, tokens.Length - start);
            if (2 * length < seqLen) yield break;
            yield return tokens[start..(start + length)];
        }
    }
}

/// <summary>
/// Groups windows into batches of equal length for the forward pass. Full windows make full
/// batches as they come; shorter final windows wait in a batch of their own length.
/// </summary>
public sealed class WindowBatcher(int batchWindows)
{
    readonly SortedDictionary<int, List<TokenWindow>> pending = [];

    /// <summary>Adds a window; returns a batch when one of this length is full.</summary>
    public List<TokenWindow>? Add(TokenWindow window)
    {
        int length = window.Tokens.Length;
        if (!pending.TryGetValue(length, out var batch)) pending[length] = batch = new List<TokenWindow>(batchWindows);
        batch.Add(window);
        if (batch.Count < batchWindows) return null;
        pending.Remove(length);
        return batch;
    }

    /// <summary>Every partly filled batch, longest windows first, leaving the batcher empty.</summary>
    public IEnumerable<List<TokenWindow>> Flush()
    {
        var batches = pending.Values.Reverse().ToList();
        pending.Clear();
        return batches;
    }
}
