using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>A document's windows, as collection reads them; <c>Full</c>: --max-tokens was reached within it.</summary>
sealed record DocumentWindows(long Index, List<int[]> Windows, bool Full);

/// <summary>
/// What the corpus holds for this collection, counted in a cheap first read (tokenizing only) before any
/// forward pass: documents, windows, tokens, and each token id's occurrences. The memory plan is made from it
/// and the token lookup tables keep sums only for tokens it counted at least --min-token-count times.
/// </summary>
sealed record CorpusCensus(long Documents, long Windows, long Tokens, long SkippedLines, int LongestWindow, long[] TokenCounts)
{
    /// <summary>Token ids seen at least <paramref name="minCount"/> times, ascending.</summary>
    public int[] TokensSeenAtLeast(int minCount) =>
        Enumerable.Range(0, TokenCounts.Length).Where(t => TokenCounts[t] >= minCount).ToArray();

    public static CorpusCensus Count(CorpusOptions corpus, ITransformerModel model, CollectionSettings settings,
        Action<CollectionProgress>? progress, Action<CorpusIssue>? onIssue, CancellationToken cancellation)
    {
        var counts = new long[model.Info.VocabSize];
        long documents = 0, windows = 0, tokens = 0, skipped = 0;
        int longest = 0;
        var reader = new CorpusReader(corpus);
        foreach (var document in Read(reader, model.Tokenizer, settings, 0, 0, issue =>
        {
            skipped++;
            onIssue?.Invoke(issue);
        }))
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (var window in document.Windows)
            {
                foreach (int token in window)
                {
                    if ((uint)token >= (uint)counts.Length)
                        throw new NeuronExplainerException($"the tokenizer produced id {token} outside the model's vocabulary of {counts.Length}");
                    counts[token]++;
                }
                windows++;
                tokens += window.Length;
                longest = Math.Max(longest, window.Length);
            }
            documents = document.Index + 1;
            progress?.Invoke(new CollectionProgress(tokens, windows, documents, reader.BytesRead, reader.TotalBytes, settings.MaxTokens) { Stage = "counting" });
        }
        return new CorpusCensus(documents, windows, tokens, skipped, longest, counts);
    }

    /// <summary>
    /// The corpus's documents cut into windows, in order, up to --max-tokens (counting <paramref name="tokensBefore"/>
    /// already read). The first <paramref name="skip"/> documents are passed over without tokenizing them, and
    /// their unreadable lines are not reported again.
    /// </summary>
    public static IEnumerable<DocumentWindows> Read(CorpusReader reader, ITokenizer tokenizer, CollectionSettings settings,
        long skip, long tokensBefore, Action<CorpusIssue> onIssue)
    {
        long index = 0, tokens = tokensBefore;
        bool skipping = skip > 0;
        foreach (var document in reader.ReadDocuments(issue => { if (!skipping) onIssue(issue); }))
        {
            if (index < skip)
            {
                index++;
                continue;
            }
            skipping = false;
            var windows = new List<int[]>();
            bool full = false;
            foreach (var window in Windowing.Cut(tokenizer.Encode(document), settings.SequenceLength))
            {
                if (settings.MaxTokens is { } max && tokens + window.Length > max)
                {
                    full = true;
                    break;
                }
                tokens += window.Length;
                windows.Add(window);
            }
            yield return new DocumentWindows(index++, windows, full);
            if (full) yield break;
        }
    }
}
