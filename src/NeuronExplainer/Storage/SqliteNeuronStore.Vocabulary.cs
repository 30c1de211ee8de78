using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace NeuronExplainer.Storage;

/// <summary>
/// Token strings and token windows stored once and shared by every document (migration 7): a window that is a top
/// excerpt of many neurons, or in the random sample every neuron of a layer shares, is kept once, and documents refer
/// to it by id. Rows are never changed or deleted, so an id read once stays true; the caches drop what a rolled-back
/// transaction may have added.
/// </summary>
public sealed partial class SqliteNeuronStore
{
    /// <summary>Bounds on the caches (windows read back, window ids by content); past them a cache starts over.</summary>
    const int MaxCachedWindows = 200_000, MaxCachedWindowIds = 1_000_000;

    readonly Dictionary<string, int> tokenIds = new(StringComparer.Ordinal);
    readonly Dictionary<int, string> tokenTexts = [];
    readonly Dictionary<UInt128, long> windowIds = [];
    readonly Dictionary<long, string[]> windowTokens = [];

    /// <summary>The id of a token string, adding it to the store when new; only inside a write.</summary>
    internal int TokenId(string text)
    {
        if (tokenIds.TryGetValue(text, out int id)) return id;
        var found = Query("SELECT id FROM token_strings WHERE text = $text", r => r.GetInt32(0), ("$text", text));
        id = found.Count == 1 ? found[0] : (int)Scalar<long>("INSERT INTO token_strings (text) VALUES ($text) RETURNING id", ("$text", text));
        tokenIds[text] = id;
        tokenTexts[id] = text;
        return id;
    }

    internal string TokenText(int id)
    {
        if (tokenTexts.TryGetValue(id, out var text)) return text;
        text = Query("SELECT text FROM token_strings WHERE id = $id", r => r.GetString(0), ("$id", id)).SingleOrDefault()
            ?? throw CompactReader.Damaged($"token string {id} is not in token_strings");
        tokenTexts[id] = text;
        return text;
    }

    /// <summary>The id of a window of tokens, adding it when new; only inside a write.</summary>
    internal long WindowId(IReadOnlyList<string> tokens)
    {
        var hash = WindowHash(tokens);
        if (windowIds.TryGetValue(hash, out long id)) return id;
        byte[] key = HashBytes(hash);
        var found = Query("SELECT id, tokens FROM windows WHERE hash = $hash", r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("$hash", key));
        if (found.Count == 1)
        {
            // 128 bits make a collision unthinkable, but the first sight of a stored window still checks it.
            if (!ReadWindow(found[0].Item2).SequenceEqual(tokens, StringComparer.Ordinal))
                throw new NeuronExplainerException($"{Location}: two different token windows have the same 128-bit hash; the store cannot hold both");
            id = found[0].Item1;
        }
        else
        {
            var writer = new CompactWriter();
            writer.Count(tokens.Count);
            foreach (var token in tokens) writer.Count(TokenId(token));
            id = Scalar<long>("INSERT INTO windows (hash, tokens) VALUES ($hash, $tokens) RETURNING id", ("$hash", key), ("$tokens", writer.Written.ToArray()));
        }
        if (windowIds.Count >= MaxCachedWindowIds) windowIds.Clear();
        windowIds[hash] = id;
        return id;
    }

    /// <summary>The tokens of every given window, read in one query for those not cached.</summary>
    internal Dictionary<long, string[]> Windows(IEnumerable<long> ids)
    {
        var wanted = ids.ToHashSet();
        var result = new Dictionary<long, string[]>(wanted.Count);
        var missing = new List<long>();
        foreach (long id in wanted)
        {
            if (windowTokens.TryGetValue(id, out var tokens)) result[id] = tokens;
            else missing.Add(id);
        }
        if (missing.Count > 0)
        {
            if (windowTokens.Count + missing.Count > MaxCachedWindows) windowTokens.Clear();
            foreach (var (id, blob) in Query("SELECT id, tokens FROM windows WHERE id IN (SELECT value FROM json_each($ids))",
                r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("$ids", "[" + string.Join(',', missing) + "]")))
                result[id] = windowTokens[id] = ReadWindow(blob);
            foreach (long id in missing)
                if (!result.ContainsKey(id)) throw CompactReader.Damaged($"window {id} is not in windows");
        }
        return result;
    }

    string[] ReadWindow(byte[] blob)
    {
        var reader = new CompactReader(blob);
        var tokens = new string[reader.Count()];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = TokenText(checked((int)reader.Varint()));
        return tokens;
    }

    /// <summary>Forgets what a rolled-back write may have added.</summary>
    void ForgetUncommitted()
    {
        tokenIds.Clear();
        tokenTexts.Clear();
        windowIds.Clear();
        windowTokens.Clear();
        decodedRecords.Clear();
    }

    static UInt128 WindowHash(IReadOnlyList<string> tokens)
    {
        var hash = new XxHash128();
        Span<byte> length = stackalloc byte[4];
        foreach (var token in tokens)
        {
            // The length first, so ["ab", "c"] and ["a", "bc"] differ.
            BitConverter.TryWriteBytes(length, token.Length);
            hash.Append(length);
            hash.Append(MemoryMarshal.AsBytes(token.AsSpan()));
        }
        return hash.GetCurrentHashAsUInt128();
    }

    static byte[] HashBytes(UInt128 hash)
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)(hash >> 64));
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 8), (ulong)hash);
        return bytes;
    }
}
