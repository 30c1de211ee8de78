using System.Text;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// llama2.c's tokenizer.bin (a sentencepiece vocabulary exported with scores), encoded as llama2.c's
/// <c>encode</c> does: a dummy-prefix space, one token per code point (bytes <c>&lt;0xXX&gt;</c>, id =
/// byte + 3, when the code point is not in the vocabulary), then repeatedly the adjacent pair whose
/// concatenation is in the vocabulary with the highest score is merged, the leftmost on ties.
/// <para>
/// Text is never scanned for control tokens: "&lt;s&gt;" or "&lt;|endoftext|&gt;" inside text are
/// ordinary characters, as in llama2.c. Decode drops BOS and EOS, drops the leading space of the
/// first piece and of a piece right after BOS (the dummy prefix), and turns byte tokens back into bytes.
/// </para>
/// </summary>
public sealed class Llama2cTokenizer : ITokenizer
{
    private const int FirstByteToken = 3;

    private readonly float[] scores;
    private readonly TokenBytes tokenBytes;
    private readonly string[] tokenStrings;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly string[] pieceTexts;
    private readonly int dummyPrefixId;
    private readonly byte[][] withoutDummyPrefix;
    private readonly Dictionary<long, int> merges;

    private Llama2cTokenizer(byte[][] pieces, float[] scores, string path)
    {
        this.scores = scores;
        pieceTexts = Array.ConvertAll(pieces, p => Encoding.UTF8.GetString(p));

        var ids = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        // llama2.c binary-searches a sorted copy; with a duplicated piece the lowest id is used here.
        for (int id = 0; id < pieces.Length; id++) ids.TryAdd(pieceTexts[id], id);
        lookup = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        merges = BuildMergeTable(ids);

        if (pieces.Length < FirstByteToken + 256)
            throw new NeuronExplainerException($"{path}: {pieces.Length} tokens, expected at least {FirstByteToken + 256} (3 control tokens and 256 byte tokens)");
        for (int b = 0; b < 256; b++)
        {
            string expected = $"<0x{b:X2}>";
            if (pieceTexts[FirstByteToken + b] != expected)
                throw new NeuronExplainerException($"{path}: token {FirstByteToken + b} is '{pieceTexts[FirstByteToken + b]}', expected the byte token '{expected}'");
        }
        if (!ids.TryGetValue(" ", out dummyPrefixId))
            throw new NeuronExplainerException($"{path}: the vocabulary has no ' ' token for the dummy prefix");

        var bytesById = new byte[pieces.Length][];
        for (int id = 0; id < pieces.Length; id++)
            bytesById[id] = id is >= FirstByteToken and < FirstByteToken + 256 ? [(byte)(id - FirstByteToken)] : pieces[id];
        tokenBytes = new TokenBytes(bytesById, path);
        // Byte tokens keep their byte: llama2.c drops only a piece's own leading space.
        withoutDummyPrefix = Array.ConvertAll(pieces, p => p is [(byte)' ', ..] ? p[1..] : p);
        for (int b = 0; b < 256; b++) withoutDummyPrefix[FirstByteToken + b] = bytesById[FirstByteToken + b];
        tokenStrings = Array.ConvertAll(bytesById, b => TokenBytes.ToText(b));
    }

    /// <summary>
    /// Reads tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length and the
    /// piece's bytes, until the end of the file (llama2.c takes the count from the checkpoint instead).
    /// </summary>
    public static Llama2cTokenizer Load(string path)
    {
        using var stream = TokenizerFiles.OpenRead(path);
        using var reader = new BinaryReader(stream);
        long length = stream.Length;
        if (length < 4) throw new NeuronExplainerException($"{path}: {length} bytes, too short for a llama2.c tokenizer (expected int32 max_token_length first)");
        int maxTokenLength = reader.ReadInt32();
        if (maxTokenLength is <= 0 or > 1 << 16)
            throw new NeuronExplainerException($"{path}: max_token_length {maxTokenLength} is not plausible; is this a llama2.c tokenizer.bin?");

        var pieces = new List<byte[]>();
        var scores = new List<float>();
        while (stream.Position < length)
        {
            long at = stream.Position;
            if (length - at < 8) throw new NeuronExplainerException($"{path}: truncated at byte {at} (token {pieces.Count}): expected a float32 score and an int32 length");
            float score = reader.ReadSingle();
            int pieceLength = reader.ReadInt32();
            if (pieceLength < 0 || pieceLength > maxTokenLength || pieceLength > length - stream.Position)
                throw new NeuronExplainerException($"{path}: token {pieces.Count} at byte {at} has length {pieceLength}, expected 0..{Math.Min(maxTokenLength, length - stream.Position)}");
            pieces.Add(reader.ReadBytes(pieceLength));
            scores.Add(score);
        }
        return new Llama2cTokenizer([.. pieces], [.. scores], path);
    }

    public int VocabSize => tokenBytes.Count;

    public int? BosId => 1;

    public int? EosId => 2;

    public int[] Encode(string text)
    {
        if (text.Length == 0) return [];

        // Initial tokens: the dummy prefix, then one per code point (or its UTF-8 bytes).
        var tokens = new List<int>(text.Length + 1) { dummyPrefixId };
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length;)
        {
            int width = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            var codePoint = text.AsSpan(i, width);
            if (lookup.TryGetValue(codePoint, out int id)) tokens.Add(id);
            else
            {
                int count = Encoding.UTF8.GetBytes(codePoint, utf8);
                for (int b = 0; b < count; b++) tokens.Add(utf8[b] + FirstByteToken);
            }
            i += width;
        }
        return PairMerger.Merge(tokens, TryMergePieces);
    }

    /// <summary>Two pieces merge when their concatenation is a piece; the higher its score, the sooner.</summary>
    private bool TryMergePieces(int left, int right, out double priority, out int merged)
    {
        bool found = merges.TryGetValue(PairKey.Of(left, right), out merged);
        priority = found ? -scores[merged] : 0;
        return found;
    }

    /// <summary>
    /// Every way a piece splits into two pieces, so merging looks up ids instead of joining strings.
    /// A piece that appears twice resolves to its lowest id, as the text lookup does.
    /// </summary>
    private Dictionary<long, int> BuildMergeTable(Dictionary<string, int> ids)
    {
        var table = PairKey.NewTable<int>(pieceTexts.Length * 4);
        foreach (var (text, id) in ids)
        {
            for (int cut = 1; cut < text.Length; cut++)
            {
                if (char.IsLowSurrogate(text[cut])) continue;
                if (lookup.TryGetValue(text.AsSpan(0, cut), out int left) && lookup.TryGetValue(text.AsSpan(cut), out int right))
                    table.TryAdd(PairKey.Of(left, right), id);
            }
        }
        return table;
    }

    public string Decode(ReadOnlySpan<int> ids) => tokenBytes.DecodeDroppingDummyPrefix(ids, BosId, EosId, withoutDummyPrefix);

    public string TokenString(int id)
    {
        _ = tokenBytes[id];
        return tokenStrings[id];
    }
}
