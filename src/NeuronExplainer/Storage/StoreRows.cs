using NeuronExplainer.Activations;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>
/// Token strings and token windows a store keeps once and shares between documents (<see cref="StoreDocuments"/>
/// refers to them by id): implemented by the SQLite and the PostgreSQL store over their own tables.
/// </summary>
interface IStoreVocabulary
{
    /// <summary>The id of a token string, adding it when new; only inside a write.</summary>
    int TokenId(string text);
    string TokenText(int id);
    /// <summary>The id of a window of tokens, adding it when new; only inside a write.</summary>
    long WindowId(IReadOnlyList<string> tokens);
    /// <summary>The tokens of every given window.</summary>
    Dictionary<long, string[]> Windows(IEnumerable<long> ids);
}

/// <summary>How both store backends write and read the values of their rows, so the two agree column by column.</summary>
static partial class StoreRows
{
    public static string FormatTime(DateTimeOffset time) => time.ToString("O", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    /// <summary>A cost as the ledger and the budget keep it: a decimal in invariant text, exact.</summary>
    public static decimal ParseCost(string text) => decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>
    /// The layer a unit is keyed at. An SAE latent spelled without its layer takes the layer its SAE has in the store
    /// (<paramref name="storedSaeLayer"/>; none found: a layer no row has, so reads find nothing); a write needs the layer,
    /// and one SAE id has one layer.
    /// </summary>
    public static int UnitLayer(NeuronId id, bool forWrite, Func<int?> storedSaeLayer)
    {
        int layer = id.LayerIndex;
        if (id.Kind == UnitKind.SaeLatent)
        {
            if (id.Sae is null) throw new NeuronExplainerException($"SAE latent {id.LayerIndex}/{id.NeuronIndex} has no SAE id; a latent is keyed by its SAE's id");
            int? stored = storedSaeLayer();
            if (layer == NeuronId.UnknownLayer) layer = stored ?? (forWrite
                ? throw new NeuronExplainerException($"cannot store SAE latent {id}: the store does not know SAE {id.Sae}, so its layer is unknown; collect its latents first")
                : NeuronId.UnknownLayer);
            else if (forWrite && stored is int other && other != layer)
                throw new NeuronExplainerException($"cannot store SAE latent {id} at layer {layer}: the store holds SAE {id.Sae} at layer {other}, and one SAE id reads one layer");
        }
        else if (id.Sae is not null)
            throw new NeuronExplainerException($"unit {id} of kind {NeuronId.Prefix(id.Kind)} has an SAE id ({id.Sae}); only SAE latents have one");
        return layer;
    }

    /// <summary>The unit of a row's layer, kind and index columns.</summary>
    public static NeuronId ReadUnit(string kind, int layer, int index, string location)
    {
        try
        {
            return NeuronId.FromKey(kind, layer, index);
        }
        catch (FormatException e)
        {
            throw new NeuronExplainerException($"{location}: a row's unit kind is damaged ({e.Message})", e);
        }
    }

    /// <summary>Refuses a search kind filter other than neuron, head, sae or sae:ID.</summary>
    public static void CheckKindFilter(string? kind)
    {
        if (kind is not null && !NeuronId.IsKindFilter(kind))
            throw new NeuronExplainerException($"'{kind}' is not a unit kind to search; expected neuron, head, sae or sae:ID");
    }

    /// <summary>A control's kind as stored (<c>shuffled</c>); null for a neuron's own explanations.</summary>
    public static string? ControlColumn(ControlKind control) => control switch
    {
        ControlKind.None => null,
        ControlKind.Shuffled => "shuffled",
        _ => throw new ArgumentOutOfRangeException(nameof(control), control, "no stored name for this control"),
    };

    public static ControlKind ReadControl(string? column, string location) => column switch
    {
        null => ControlKind.None,
        "shuffled" => ControlKind.Shuffled,
        var other => throw new NeuronExplainerException($"{location}: explanation_results.control is '{other}'; expected shuffled or null"),
    };

    /// <summary>A result's per-method scores as the stores select them: a JSON array of [method, score, undefined_reason, failed, details].</summary>
    public static List<MethodScore> ReadScores(string json)
    {
        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.EnumerateArray().Select(s => new MethodScore(s[0].GetString()!,
            s[1].ValueKind == JsonValueKind.Null ? null : s[1].GetDouble(), s[2].ValueKind == JsonValueKind.Null ? null : s[2].GetString())
            { Failed = s[3].GetInt32() != 0, Details = s[4].ValueKind == JsonValueKind.Null ? null : s[4].GetString() })];
    }

    /// <summary>The record a caller gave with a result, checked to be of the result's unit (printed ids: a latent's omits its layer).</summary>
    public static NeuronRecord? RecordOf(NeuronExplanationResult result, NeuronRecord? record) =>
        record is null || record.NeuronId.ToString() == result.Neuron.ToString() ? record
        : throw new ArgumentException($"the record given with the result of {result.Neuron} is the record of {record.NeuronId}", nameof(record));

    /// <summary>Refuses a result whose parts disagree before any store writes it; returns its chosen explanation.</summary>
    public static ScoredExplanation? CheckResult(NeuronExplanationResult result)
    {
        var explanations = result.Results?.ScoredExplanations ?? [];
        if (result.Results is { } r && r.NeuronId != result.Neuron)
            throw new NeuronExplainerException($"cannot store the result of neuron {result.Neuron}: its results are of neuron {r.NeuronId}");
        if (result.ChosenIndex is int c && (c < 0 || c >= explanations.Count))
            throw new NeuronExplainerException($"cannot store the result of neuron {result.Neuron}: chosen index {c} is outside its {explanations.Count} explanations");
        if (result.Results is { } checkedResults) Checked(() => StoreDocuments.CheckResults(checkedResults), $"the explanations of neuron {result.Neuron}");
        return result.ChosenIndex is int i ? explanations[i] : null;
    }

    /// <summary>Runs the data model's checks (or an encoding that runs them), naming what was refused.</summary>
    public static T Checked<T>(Func<T> check, string what)
    {
        try
        {
            return check();
        }
        catch (Exception e) when (StoreDocuments.IsCheckFailure(e))
        {
            throw StoreDocuments.Refused(what, e);
        }
    }

    public static void Checked(Action check, string what) => Checked(() => { check(); return 0; }, what);

    /// <summary>Checks every record on all cores, so a bad record fails a batch before it holds the store's write lock.</summary>
    public static void CheckRecords(IReadOnlyList<Activations.NeuronRecord> records)
    {
        try
        {
            Parallel.For(0, records.Count, i => Checked(() => StoreDocuments.CheckRecord(records[i]), $"the record of neuron {records[i].NeuronId}"));
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    /// <summary>Longest search query accepted, in characters.</summary>
    public const int MaxSearchQueryLength = 200;

    /// <summary>Most distinct words in a search query.</summary>
    public const int MaxSearchWords = 8;

    /// <summary>Most matches a search ranks: a query matching more is ranked over the first this many in store order.</summary>
    public const int MaxRankedMatches = 10_000;

    /// <summary>
    /// The distinct words (letters and digits) of a search query, so user text is never parsed as the backend's query
    /// syntax; each word is another posting list to intersect, so their number (and the query's length) is bounded.
    /// </summary>
    public static List<string> SearchWords(string query)
    {
        if (query.Length > MaxSearchQueryLength)
            throw new NeuronExplainerException($"the search query is {query.Length} characters long; at most {MaxSearchQueryLength} are accepted");
        var words = Words().Matches(query).Select(m => m.Value).Distinct().ToList();
        if (words.Count > MaxSearchWords)
            throw new NeuronExplainerException($"the search query has {words.Count} words; at most {MaxSearchWords} are accepted");
        return words;
    }

    /// <summary>A window's identity: 128 bits of its token strings, each preceded by its length so ["ab", "c"] and ["a", "bc"] differ.</summary>
    public static UInt128 WindowHash(IReadOnlyList<string> tokens)
    {
        var hash = new XxHash128();
        Span<byte> length = stackalloc byte[4];
        foreach (var token in tokens)
        {
            BitConverter.TryWriteBytes(length, token.Length);
            hash.Append(length);
            hash.Append(MemoryMarshal.AsBytes(token.AsSpan()));
        }
        return hash.GetCurrentHashAsUInt128();
    }

    /// <summary>The hash as the windows table keys it (16 bytes, high half first).</summary>
    public static byte[] HashBytes(UInt128 hash)
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)(hash >> 64));
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 8), (ulong)hash);
        return bytes;
    }

    /// <summary>A window's tokens column: its length, then each token's string id.</summary>
    public static byte[] EncodeWindow(IReadOnlyList<string> tokens, IStoreVocabulary vocabulary)
    {
        var writer = new CompactWriter();
        writer.Count(tokens.Count);
        foreach (var token in tokens) writer.Count(vocabulary.TokenId(token));
        return writer.Written.ToArray();
    }

    public static string[] DecodeWindow(byte[] blob, IStoreVocabulary vocabulary)
    {
        var reader = new CompactReader(blob);
        var tokens = new string[reader.Count()];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = vocabulary.TokenText(checked((int)reader.Varint()));
        return tokens;
    }

    /// <summary>
    /// The tokens of every given window: those in <paramref name="cache"/>, the others read in one query by
    /// <paramref name="read"/> (and cached; past <paramref name="maxCached"/> the cache starts over).
    /// </summary>
    public static Dictionary<long, string[]> CachedWindows(IEnumerable<long> ids, IDictionary<long, string[]> cache, int maxCached,
        Func<List<long>, IEnumerable<(long Id, byte[] Tokens)>> read, IStoreVocabulary vocabulary)
    {
        var wanted = ids.ToHashSet();
        var result = new Dictionary<long, string[]>(wanted.Count);
        var missing = new List<long>();
        foreach (long id in wanted)
        {
            if (cache.TryGetValue(id, out var tokens)) result[id] = tokens;
            else missing.Add(id);
        }
        if (missing.Count == 0) return result;
        if (cache.Count + missing.Count > maxCached) cache.Clear();
        foreach (var (id, blob) in read(missing)) result[id] = cache[id] = DecodeWindow(blob, vocabulary);
        foreach (long id in missing)
            if (!result.ContainsKey(id)) throw CompactReader.Damaged($"window {id} is not in windows");
        return result;
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Words();
}
