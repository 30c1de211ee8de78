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

    public int TokenId(string text)
    {
        if (tokenIds.TryGetValue(text, out int id)) return id;
        var found = Query("SELECT id FROM token_strings WHERE text = $text", r => r.GetInt32(0), ("$text", text));
        id = found.Count == 1 ? found[0] : (int)Scalar<long>("INSERT INTO token_strings (text) VALUES ($text) RETURNING id", ("$text", text));
        tokenIds[text] = id;
        tokenTexts[id] = text;
        return id;
    }

    public string TokenText(int id)
    {
        if (tokenTexts.TryGetValue(id, out var text)) return text;
        // A vocabulary is small (tens of thousands of strings): the first miss reads it whole instead of one query per token.
        if (tokenTexts.Count == 0)
        {
            foreach (var (known, knownText) in Query("SELECT id, text FROM token_strings", r => (r.GetInt32(0), r.GetString(1))))
                (tokenTexts[known], tokenIds[knownText]) = (knownText, known);
            if (tokenTexts.TryGetValue(id, out text)) return text;
        }
        text = Query("SELECT text FROM token_strings WHERE id = $id", r => r.GetString(0), ("$id", id)).SingleOrDefault()
            ?? throw CompactReader.Damaged($"token string {id} is not in token_strings");
        tokenTexts[id] = text;
        return text;
    }

    public long WindowId(IReadOnlyList<string> tokens)
    {
        var hash = StoreRows.WindowHash(tokens);
        if (windowIds.TryGetValue(hash, out long id)) return id;
        byte[] key = StoreRows.HashBytes(hash);
        var found = Query("SELECT id, tokens FROM windows WHERE hash = $hash", r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("$hash", key));
        if (found.Count == 1)
        {
            // 128 bits make a collision unthinkable, but the first sight of a stored window still checks it.
            if (!StoreRows.DecodeWindow(found[0].Item2, this).SequenceEqual(tokens, StringComparer.Ordinal))
                throw new NeuronExplainerException($"{Location}: two different token windows have the same 128-bit hash; the store cannot hold both");
            id = found[0].Item1;
        }
        else
        {
            id = Scalar<long>("INSERT INTO windows (hash, tokens) VALUES ($hash, $tokens) RETURNING id", ("$hash", key), ("$tokens", StoreRows.EncodeWindow(tokens, this)));
        }
        if (windowIds.Count >= MaxCachedWindowIds) windowIds.Clear();
        windowIds[hash] = id;
        return id;
    }

    /// <summary>Reads those not cached in one query.</summary>
    public Dictionary<long, string[]> Windows(IEnumerable<long> ids) => StoreRows.CachedWindows(ids, windowTokens, MaxCachedWindows, missing =>
        Query("SELECT id, tokens FROM windows WHERE id IN (SELECT value FROM json_each($ids))",
            r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("$ids", "[" + string.Join(',', missing) + "]")), this);

    /// <summary>Forgets what a rolled-back write may have added.</summary>
    void ForgetUncommitted()
    {
        tokenIds.Clear();
        tokenTexts.Clear();
        windowIds.Clear();
        windowTokens.Clear();
        decodedRecords.Clear();
    }
}
