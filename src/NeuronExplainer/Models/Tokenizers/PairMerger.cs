namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// Merges adjacent tokens one pair at a time, always the mergeable pair with the lowest priority value and
/// the leftmost on ties, until none is left: llama2.c's encode (priority = -score) and Hugging Face's BPE
/// model (priority = merge rank). A priority queue over a linked list finds each pair without rescanning
/// the text; queue entries made stale by earlier merges are skipped when they come up.
/// </summary>
internal static class PairMerger
{
    /// <summary>Whether tokens <paramref name="left"/> and <paramref name="right"/> merge, into what, and how urgently (lower first).</summary>
    public delegate bool TryMerge(int left, int right, out double priority, out int merged);

    private readonly record struct Candidate(int Left, int Right, int LeftId, int RightId, int Merged);

    public static int[] Merge(List<int> initial, TryMerge tryMerge)
    {
        int n = initial.Count;
        var ids = initial.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++) (next[i], prev[i], alive[i]) = (i + 1, i - 1, true);

        var queue = new PriorityQueue<Candidate, (double Priority, int Position)>(n);
        for (int i = 0; i + 1 < n; i++) Offer(i, i + 1);

        int remaining = n;
        while (queue.TryDequeue(out var c, out _))
        {
            if (!alive[c.Left] || !alive[c.Right] || next[c.Left] != c.Right || ids[c.Left] != c.LeftId || ids[c.Right] != c.RightId) continue;
            ids[c.Left] = c.Merged;
            alive[c.Right] = false;
            int after = next[c.Right];
            next[c.Left] = after;
            if (after < n) prev[after] = c.Left;
            remaining--;
            if (prev[c.Left] >= 0) Offer(prev[c.Left], c.Left);
            if (after < n) Offer(c.Left, after);
        }

        var result = new int[remaining];
        for (int i = 0, k = 0; i < n; i = next[i]) result[k++] = ids[i];
        return result;

        void Offer(int left, int right)
        {
            if (tryMerge(ids[left], ids[right], out double priority, out int merged))
                queue.Enqueue(new Candidate(left, right, ids[left], ids[right], merged), (priority, left));
        }
    }
}
