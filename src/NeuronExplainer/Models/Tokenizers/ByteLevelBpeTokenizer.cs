using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE: text is cut by GPT-2's pre-tokenisation pattern, each piece's UTF-8 bytes
/// start as one token per byte, and the adjacent pair with the lowest merge rank is merged (every
/// occurrence, left to right) until no ranked pair is left. Pieces repeat a lot in real text, so
/// their ids are cached.
/// <para>
/// Special tokens (<c>&lt;|endoftext|&gt;</c> for GPT-2) that appear in the text are encoded as their
/// own id, as Hugging Face's GPT2Tokenizer does, never spelled out as ordinary text; a corpus that
/// separates documents with <c>&lt;|endoftext|&gt;</c> should be split before encoding.
/// </para>
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    private const int MaxCachedPieces = 1 << 20;

    private readonly TokenBytes tokenBytes;
    private readonly string[] tokenStrings;
    private readonly int[] byteIds = new int[256];
    private readonly Dictionary<long, Merge> merges;
    private readonly SpecialTokenSplitter specials;
    private readonly ConcurrentDictionary<string, int[]> cache = new();
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> cacheLookup;
    private int cachedPieces;

    private readonly IReadOnlyList<PreTokenizerStep> preTokenizer;
    private readonly bool ignoreMerges;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> wholeWords;

    private readonly record struct Merge(int Rank, int Result);

    private static Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> BuildWholeWords(IReadOnlyDictionary<string, int> vocab)
    {
        var words = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        foreach (var (text, id) in vocab)
            // Only tokens that are whole UTF-8 text can equal a piece of text.
            if (ByteLevelAlphabet.ToBytes(text) is { } bytes && Encoding.UTF8.GetString(bytes) is var word && Encoding.UTF8.GetBytes(word).AsSpan().SequenceEqual(bytes))
                words.TryAdd(word, id);
        return words.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <param name="vocab">Vocabulary strings in GPT-2's byte-to-character alphabet, with their ids.</param>
    /// <param name="mergeRules">Merges in rank order.</param>
    /// <param name="specialTokens">Tokens cut out of the text as they are (e.g. <c>&lt;|endoftext|&gt;</c>).</param>
    /// <param name="eosId">End-of-text id, if any.</param>
    /// <param name="source">The file(s) the vocabulary came from, for error messages.</param>
    /// <param name="preTokenizer">How text is cut before BPE; GPT-2's pattern when null.</param>
    /// <param name="ignoreMerges">A piece that is itself in the vocabulary is that token (Llama 3's ignore_merges).</param>
    internal ByteLevelBpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> mergeRules,
        IReadOnlyList<(string Text, int Id)> specialTokens, int? eosId, string source,
        IReadOnlyList<PreTokenizerStep>? preTokenizer = null, bool ignoreMerges = false)
    {
        this.preTokenizer = preTokenizer ?? [PreTokenizerStep.Gpt2.Instance];
        this.ignoreMerges = ignoreMerges;
        // Vocabulary strings are in the byte-to-character alphabet; whole pieces are looked up by their text.
        wholeWords = ignoreMerges ? BuildWholeWords(vocab) : new Dictionary<string, int>().GetAlternateLookup<ReadOnlySpan<char>>();
        int size = 0;
        foreach (var id in vocab.Values)
        {
            if (id < 0) throw new NeuronExplainerException($"{source}: token id {id} is negative");
            size = Math.Max(size, id + 1);
        }
        foreach (var (_, id) in specialTokens) size = Math.Max(size, id + 1);

        var bytesById = new byte[size][];
        foreach (var (text, id) in vocab)
        {
            if (bytesById[id] is not null) throw new NeuronExplainerException($"{source}: token id {id} is used twice");
            bytesById[id] = ByteLevelAlphabet.ToBytes(text)
                ?? throw new NeuronExplainerException($"{source}: token '{text}' (id {id}) has a character outside GPT-2's byte-level alphabet");
        }
        foreach (var (text, id) in specialTokens) bytesById[id] ??= Encoding.UTF8.GetBytes(text);
        for (int id = 0; id < size; id++)
            if (bytesById[id] is null) throw new NeuronExplainerException($"{source}: no token has id {id} (ids must be 0..{size - 1} without gaps)");
        tokenBytes = new TokenBytes(bytesById, source);
        tokenStrings = Array.ConvertAll(bytesById, b => TokenBytes.ToText(b));

        for (int b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevelAlphabet.ByteToChar[b].ToString(), out byteIds[b]))
                throw new NeuronExplainerException($"{source}: the vocabulary lacks the token for byte 0x{b:X2} ('{ByteLevelAlphabet.ByteToChar[b]}')");
        }

        merges = PairKey.NewTable<Merge>(mergeRules.Count);
        for (int rank = 0; rank < mergeRules.Count; rank++)
        {
            var (left, right) = mergeRules[rank];
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId) || !vocab.TryGetValue(left + right, out int result))
                throw new NeuronExplainerException($"{source}: merge {rank + 1} '{left} {right}' uses a token missing from the vocabulary");
            // A repeated rule keeps its first (lowest) rank, as a rank table built from the file would.
            merges.TryAdd(PairKey.Of(leftId, rightId), new Merge(rank, result));
        }

        specials = new SpecialTokenSplitter(specialTokens);
        EosId = eosId;
        cacheLookup = cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int VocabSize => tokenBytes.Count;

    public int? BosId => null;

    public int? EosId { get; }

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        if (specials.IsEmpty) EncodeOrdinary(text.AsMemory(), ids);
        else specials.Split(text, ids, EncodeOrdinary);
        return ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids) => tokenBytes.Decode(ids);

    public string TokenString(int id)
    {
        _ = tokenBytes[id];
        return tokenStrings[id];
    }

    private void EncodeOrdinary(ReadOnlyMemory<char> memory, List<int> ids) => PreTokenize(memory.Span, 0, ids);

    private void PreTokenize(ReadOnlySpan<char> text, int step, List<int> ids)
    {
        if (step == preTokenizer.Count)
        {
            EncodeCached(text, ids);
            return;
        }
        for (int start = 0; start < text.Length;)
        {
            int end = preTokenizer[step].PieceEnd(text, start);
            PreTokenize(text[start..end], step + 1, ids);
            start = end;
        }
    }

    private void EncodeCached(ReadOnlySpan<char> piece, List<int> ids)
    {
        if (!cacheLookup.TryGetValue(piece, out var pieceIds))
        {
            pieceIds = EncodePiece(piece);
            // ConcurrentDictionary.Count takes every lock, so the size is tracked here instead.
            if (Interlocked.Increment(ref cachedPieces) > MaxCachedPieces)
            {
                cache.Clear();
                Interlocked.Exchange(ref cachedPieces, 0);
            }
            cacheLookup.TryAdd(piece, pieceIds);
        }
        ids.AddRange(pieceIds);
    }

    private int[] EncodePiece(ReadOnlySpan<char> piece)
    {
        if (ignoreMerges && wholeWords.TryGetValue(piece, out int whole)) return [whole];
        int byteCount = Encoding.UTF8.GetByteCount(piece);
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(piece, bytes);
        Span<int> parts = byteCount <= 256 ? stackalloc int[byteCount] : new int[byteCount];
        for (int i = 0; i < byteCount; i++) parts[i] = byteIds[bytes[i]];

        int count = byteCount;
        while (count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1;
            for (int i = 0; i + 1 < count; i++)
            {
                if (merges.TryGetValue(PairKey.Of(parts[i], parts[i + 1]), out var merge) && merge.Rank < bestRank)
                    (bestRank, bestAt) = (merge.Rank, i);
            }
            if (bestAt < 0) break;

            int left = parts[bestAt], right = parts[bestAt + 1];
            int result = merges[PairKey.Of(left, right)].Result;
            int write = bestAt;
            for (int read = bestAt; read < count; write++)
            {
                if (read + 1 < count && parts[read] == left && parts[read + 1] == right)
                {
                    parts[write] = result;
                    read += 2;
                }
                else parts[write] = parts[read++];
            }
            count = write;
        }
        return parts[..count].ToArray();
    }

    /// <summary>Loads GPT-2's files: vocab.json + merges.txt (Hugging Face) or encoder.json + vocab.bpe (OpenAI), same content.</summary>
    public static ByteLevelBpeTokenizer FromVocabAndMerges(string vocabPath, string mergesPath)
    {
        var vocab = TokenizerFiles.ReadVocabJson(vocabPath);
        var mergeRules = TokenizerFiles.ReadMergesText(mergesPath);
        var specialTokens = new List<(string, int)>();
        int? eos = null;
        if (vocab.TryGetValue(EndOfText, out int eosId))
        {
            specialTokens.Add((EndOfText, eosId));
            eos = eosId;
        }
        return new ByteLevelBpeTokenizer(vocab, mergeRules, specialTokens, eos, $"{vocabPath} + {Path.GetFileName(mergesPath)}");
    }

    public const string EndOfText = "<|endoftext|>";
}
