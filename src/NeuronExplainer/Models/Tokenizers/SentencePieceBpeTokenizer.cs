using System.Text;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>How the "▁" word marker is put in front of text (Hugging Face's Prepend normalizer / Metaspace prepend_scheme).</summary>
public enum MetaspacePrefix { Never, FirstSegment, EverySegment }

/// <summary>
/// Hugging Face's BPE model as Llama-family tokenizer.json files use it: spaces become "▁", a "▁" is
/// put in front, each character is a token (or its UTF-8 bytes as <c>&lt;0xXX&gt;</c> tokens with byte
/// fallback, else the unknown token), and pairs merge by rank, the lowest first and the leftmost on ties.
/// Added tokens in the text are cut out as their own ids first; each stretch between them is
/// normalized on its own.
/// <para>
/// Decode drops BOS and EOS, turns "▁" back into spaces and byte tokens into bytes (invalid UTF-8 becomes
/// U+FFFD per maximal invalid subpart, like the other tokenizers, where Hugging Face writes one per
/// byte token), and drops the leading space at the start and after BOS.
/// </para>
/// </summary>
public sealed class SentencePieceBpeTokenizer : ITokenizer
{
    public const char Metaspace = '\u2581';

    /// <param name="StripsPrefixedMarker">Metaspace's rule: no "▁" is put in front of text that already starts with one.</param>
    /// <param name="SplitWords">Metaspace split: merges stay inside words that start at each "▁".</param>
    public sealed record Options(MetaspacePrefix Prefix, bool StripsPrefixedMarker, bool SplitWords, bool ByteFallback, bool FuseUnknown, bool IgnoreMerges);

    private readonly Options options;
    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly Dictionary<long, (int Rank, int Merged)> merges;
    private readonly int[]? byteIds;
    private readonly int? unknownId;
    private readonly SpecialTokenSplitter specials;
    private readonly TokenBytes tokenBytes;
    private readonly string[] tokenStrings;
    private readonly byte[][] markerFreeBytes;

    public SentencePieceBpeTokenizer(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> mergeRules,
        IReadOnlyList<(string Text, int Id)> addedTokens, string? unknownToken, int? bosId, int? eosId, Options options, string source)
    {
        this.options = options;
        vocab = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
        foreach (var (text, id) in addedTokens) vocab.TryAdd(text, id);
        lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        BosId = bosId;
        EosId = eosId;

        int size = vocab.Values.Max() + 1;
        var bytesById = new byte[size][];
        foreach (var (text, id) in vocab)
        {
            if (id < 0) throw new NeuronExplainerException($"{source}: token '{text}' has negative id {id}");
            if (bytesById[id] is not null && !addedTokens.Any(t => t.Id == id))
                throw new NeuronExplainerException($"{source}: token id {id} is used twice");
            bytesById[id] ??= ByteToken(text) is { } b ? [b] : Encoding.UTF8.GetBytes(text.Replace(Metaspace, ' '));
        }
        for (int id = 0; id < size; id++)
            if (bytesById[id] is null) throw new NeuronExplainerException($"{source}: no token has id {id} (ids must be 0..{size - 1} without gaps)");
        tokenBytes = new TokenBytes(bytesById, source);
        tokenStrings = Array.ConvertAll(bytesById, b => TokenBytes.ToText(b));
        markerFreeBytes = Array.ConvertAll(bytesById, b => b is [(byte)' ', ..] ? b[1..] : b);

        if (options.ByteFallback)
        {
            byteIds = new int[256];
            for (int b = 0; b < 256; b++)
                if (!vocab.TryGetValue($"<0x{b:X2}>", out byteIds[b]))
                    throw new NeuronExplainerException($"{source}: byte_fallback is on but the vocabulary lacks '<0x{b:X2}>'");
        }
        if (unknownToken is not null)
            unknownId = vocab.TryGetValue(unknownToken, out int unk) ? unk
                : throw new NeuronExplainerException($"{source}: unk_token '{unknownToken}' is not in the vocabulary");

        merges = PairKey.NewTable<(int, int)>(mergeRules.Count);
        for (int rank = 0; rank < mergeRules.Count; rank++)
        {
            var (left, right) = mergeRules[rank];
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.TryGetValue(left + right, out int m))
                throw new NeuronExplainerException($"{source}: merge {rank + 1} '{left} {right}' uses a token missing from the vocabulary");
            merges.TryAdd(PairKey.Of(l, r), (rank, m));
        }
        specials = new SpecialTokenSplitter(addedTokens);
    }

    private static byte? ByteToken(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
        && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b) ? b : null;

    public int VocabSize => tokenBytes.Count;

    public int? BosId { get; }

    public int? EosId { get; }

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 2 + 4);
        bool first = true;
        specials.Split(text, ids, (segment, output) =>
        {
            // "First" means the stretch that opens the text, not one after an added token.
            bool opensText = first && ids.Count == 0;
            first = false;
            EncodeSegment(segment.Span, opensText, output);
        });
        return ids.ToArray();
    }

    private void EncodeSegment(ReadOnlySpan<char> segment, bool opensText, List<int> ids)
    {
        if (segment.IsEmpty) return;
        bool prefix = options.Prefix == MetaspacePrefix.EverySegment || (options.Prefix == MetaspacePrefix.FirstSegment && opensText);
        if (prefix && options.StripsPrefixedMarker && (segment[0] == ' ' || segment[0] == Metaspace)) prefix = false;
        var normalized = new StringBuilder(segment.Length + 1);
        if (prefix) normalized.Append(Metaspace);
        foreach (char c in segment) normalized.Append(c == ' ' ? Metaspace : c);
        string text = normalized.ToString();

        int start = 0;
        for (int i = 1; i <= text.Length; i++)
        {
            if (i < text.Length && !(options.SplitWords && text[i] == Metaspace)) continue;
            EncodeWord(text.AsSpan(start, i - start), ids);
            start = i;
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (options.IgnoreMerges && lookup.TryGetValue(word, out int whole))
        {
            ids.Add(whole);
            return;
        }
        var symbols = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int width = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var character = word.Slice(i, width);
            i += width;
            if (lookup.TryGetValue(character, out int id)) symbols.Add(id);
            else if (byteIds is not null)
            {
                int count = Encoding.UTF8.GetBytes(character, utf8);
                for (int b = 0; b < count; b++) symbols.Add(byteIds[utf8[b]]);
            }
            else if (unknownId is { } unk)
            {
                if (!(options.FuseUnknown && symbols.Count > 0 && symbols[^1] == unk)) symbols.Add(unk);
            }
            else throw new NeuronExplainerException($"character '{character}' is not in the vocabulary, which has no byte fallback and no unknown token");
        }
        ids.AddRange(PairMerger.Merge(symbols, TryMergeRanked));
    }

    private bool TryMergeRanked(int left, int right, out double priority, out int merged)
    {
        bool found = merges.TryGetValue(PairKey.Of(left, right), out var merge);
        (priority, merged) = found ? (merge.Rank, merge.Merged) : (0, 0);
        return found;
    }

    public string Decode(ReadOnlySpan<int> ids) =>
        tokenBytes.DecodeDroppingDummyPrefix(ids, BosId, EosId, options.Prefix == MetaspacePrefix.Never ? null : markerFreeBytes);

    public string TokenString(int id)
    {
        _ = tokenBytes[id];
        return tokenStrings[id];
    }
}
