using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The offline baseline's explanation: the tokens the neuron fires on, and the tokens after which it fires,
/// each with a weight on the 0..10 prompt scale. It is a readable sentence that the baseline simulator parses
/// back exactly, e.g. <c>tokens "lily" (9.1), "girl" (4.2); right after "named" (6.0)</c>.
/// Tokens are compared trimmed and lower-cased, so " Lily" and "lily" are one entry.
/// </summary>
public sealed record BaselineExplanation(IReadOnlyList<(string Token, double Weight)> Tokens, IReadOnlyList<(string Token, double Weight)> After)
    : IBaselinePrediction
{
    const string TokensLead = "tokens ";
    const string AfterLead = "right after ";
    const string Separator = "; ";

    static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The key a token is matched by: trimmed and lower-cased, or the raw token when it is only whitespace.</summary>
    public static string Key(string token)
    {
        string trimmed = token.Trim();
        return trimmed.Length == 0 ? token : trimmed.ToLowerInvariant();
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        if (Tokens.Count > 0) AppendList(sb.Append(TokensLead), Tokens);
        if (After.Count > 0)
        {
            if (sb.Length > 0) sb.Append(Separator);
            AppendList(sb.Append(AfterLead), After);
        }
        return sb.ToString();
    }

    static void AppendList(StringBuilder sb, IReadOnlyList<(string Token, double Weight)> entries)
    {
        for (int i = 0; i < entries.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            AppendEntry(sb, entries[i].Token, entries[i].Weight);
        }
    }

    /// <summary><c>"token" (w)</c>: a JSON string literal, so quotes, backslashes and control characters inside tokens stay unambiguous.</summary>
    internal static void AppendEntry(StringBuilder sb, string token, double weight) =>
        sb.Append(Quote(token)).Append(" (").Append(weight.ToString("0.0", CultureInfo.InvariantCulture)).Append(')');

    internal static string Quote(string token) => JsonSerializer.Serialize(token, QuoteOptions);

    /// <summary>The strongest weight the explanation names.</summary>
    public double StrongestWeight => Tokens.Concat(After).Max(e => e.Weight);

    /// <summary>A baseline explanation of either form (<see cref="BaselineExplanation"/> or <see cref="BaselineHeadExplanation"/>), or null.</summary>
    public static IBaselinePrediction? ParseAny(string text) => TryParse(text) ?? (IBaselinePrediction?)BaselineHeadExplanation.TryParse(text);

    /// <summary>Reads an explanation written by <see cref="ToString"/>; null for any other text.</summary>
    public static BaselineExplanation? TryParse(string text)
    {
        var tokens = new List<(string, double)>();
        var after = new List<(string, double)>();
        int pos = 0;
        foreach (var (lead, list) in new[] { (TokensLead, tokens), (AfterLead, after) })
        {
            if (!text.AsSpan(pos).StartsWith(lead, StringComparison.Ordinal)) continue;
            pos += lead.Length;
            while (true)
            {
                if (!TryReadEntry(text, ref pos, out var entry)) return null;
                list.Add(entry);
                if (text.AsSpan(pos).StartsWith(", ", StringComparison.Ordinal)) { pos += 2; continue; }
                break;
            }
            if (pos == text.Length) break;
            if (!text.AsSpan(pos).StartsWith(Separator, StringComparison.Ordinal)) return null;
            pos += Separator.Length;
        }
        return pos == text.Length && tokens.Count + after.Count > 0 ? new BaselineExplanation(tokens, after) : null;
    }

    internal static bool TryReadEntry(string text, ref int pos, out (string Token, double Weight) entry)
    {
        entry = default;
        if (!TryReadQuoted(text, ref pos, out string token)) return false;
        if (!text.AsSpan(pos).StartsWith(" (", StringComparison.Ordinal)) return false;
        int close = text.IndexOf(')', pos);
        if (close < 0 || !double.TryParse(text.AsSpan(pos + 2, close - pos - 2), NumberStyles.Float, CultureInfo.InvariantCulture, out double weight)
            || !double.IsFinite(weight))
            return false;
        pos = close + 1;
        entry = (token, weight);
        return true;
    }

    /// <summary>Reads a JSON string literal at <paramref name="pos"/>.</summary>
    internal static bool TryReadQuoted(string text, ref int pos, out string token)
    {
        token = "";
        if (pos >= text.Length || text[pos] != '"') return false;
        int end = pos + 1;
        while (end < text.Length && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
        if (end >= text.Length) return false;
        try { token = JsonSerializer.Deserialize<string>(text.AsSpan(pos, end - pos + 1), QuoteOptions)!; }
        catch (JsonException) { return false; }
        pos = end + 1;
        return true;
    }

    /// <summary>Predicted 0..10 value of each token: its own weight plus the weight of the token before it, capped at 10.</summary>
    public double[] Predict(IReadOnlyList<string> tokens) => Predict(tokens, OwnWeights(), AfterWeights());

    /// <summary>Every excerpt's prediction, the weights looked up by token built once for all of them.</summary>
    public IReadOnlyList<double[]> PredictAll(IReadOnlyList<IReadOnlyList<string>> excerpts)
    {
        var (own, next) = (OwnWeights(), AfterWeights());
        return [.. excerpts.Select(tokens => Predict(tokens, own, next))];
    }

    Dictionary<string, double> OwnWeights() => Tokens.ToDictionary(e => e.Token, e => e.Weight);

    Dictionary<string, double> AfterWeights() => After.ToDictionary(e => e.Token, e => e.Weight);

    /// <summary>
    /// Each token's own weight plus the after-weight of the token before it, at most 10. Tokens are looked up by their key
    /// as a span (trimmed, lower-cased into a buffer only when they hold a capital): a <see cref="Key"/> is a new string or
    /// two, and making them was most of what simulating with the baseline allocated.
    /// </summary>
    static double[] Predict(IReadOnlyList<string> tokens, Dictionary<string, double> own, Dictionary<string, double> next)
    {
        var (ownByKey, nextByKey) = (own.GetAlternateLookup<ReadOnlySpan<char>>(), next.GetAlternateLookup<ReadOnlySpan<char>>());
        var result = new double[tokens.Count];
        Span<char> buffer = stackalloc char[128];
        double after = 0;
        for (int i = 0; i < result.Length; i++)
        {
            var key = KeySpan(tokens[i], buffer);
            result[i] = Math.Min(PromptFormat.MaxNormalizedActivation, (ownByKey.TryGetValue(key, out double weight) ? weight : 0) + after);
            after = nextByKey.TryGetValue(key, out double afterWeight) ? afterWeight : 0;
        }
        return result;
    }

    /// <summary><see cref="Key"/> as a span: of the token itself, or lower-cased into <paramref name="buffer"/> (a new array when too short).</summary>
    static ReadOnlySpan<char> KeySpan(string token, Span<char> buffer)
    {
        var trimmed = token.AsSpan().Trim();
        if (trimmed.IsEmpty) return token;
        if (!trimmed.ContainsAnyInRange('A', 'Z') && Ascii.IsValid(trimmed)) return trimmed;
        var lower = trimmed.Length <= buffer.Length ? buffer[..trimmed.Length] : new char[trimmed.Length];
        trimmed.ToLowerInvariant(lower);
        return lower;
    }

    /// <summary>
    /// The <see cref="Key"/> of every token of an excerpt, made once: Derive counts each excerpt's tokens twice, under keys
    /// it keeps, and a Key is a new string or two (trimmed, lowered).
    /// </summary>
    static string[] Keys(IReadOnlyList<string> tokens)
    {
        var keys = new string[tokens.Count];
        for (int i = 0; i < keys.Length; i++) keys[i] = Key(tokens[i]);
        return keys;
    }

    /// <summary>
    /// Derives an explanation from excerpts: the <paramref name="tokenBudget"/> tokens carrying the most
    /// activation (weight = their mean 0..10 value), then up to half as many preceding tokens that explain
    /// what the token list leaves unexplained (weight = mean remaining value after them).
    /// </summary>
    public static BaselineExplanation Derive(IReadOnlyList<ActivationRecord> records, int tokenBudget)
    {
        var scaled = Scaled(records);
        var keys = records.Select(r => Keys(r.Tokens)).ToArray();

        var ownStats = new Dictionary<string, (double Sum, int Count)>();
        for (int r = 0; r < records.Count; r++)
            for (int i = 0; i < scaled[r].Length; i++)
                Accumulate(ownStats, keys[r][i], scaled[r][i]);
        var tokens = Select(ownStats, tokenBudget);

        var partial = new BaselineExplanation(tokens, []);
        var (own, next) = (partial.OwnWeights(), partial.AfterWeights());
        var afterStats = new Dictionary<string, (double Sum, int Count)>();
        for (int r = 0; r < records.Count; r++)
        {
            var predicted = Predict(records[r].Tokens, own, next);
            for (int i = 1; i < scaled[r].Length; i++)
                Accumulate(afterStats, keys[r][i - 1], scaled[r][i] - predicted[i]);
        }
        return new BaselineExplanation(tokens, Select(afterStats, Math.Max(1, tokenBudget / 2)));
    }

    /// <summary>Every excerpt's activations on the 0..10 scale of the prompts (unrounded), over the largest among them.</summary>
    internal static List<double[]> Scaled(IReadOnlyList<ActivationRecord> records)
    {
        double max = PromptFormat.MaxActivation(records);
        return [.. records.Select(r => r.Activations.Select(a => max > 0 ? PromptFormat.MaxNormalizedActivation * Math.Max(0, a) / max : 0).ToArray())];
    }

    internal static void Accumulate<TKey>(Dictionary<TKey, (double Sum, int Count)> stats, TKey key, double value) where TKey : notnull
    {
        var (sum, count) = stats.GetValueOrDefault(key);
        stats[key] = (sum + value, count + 1);
    }

    /// <summary>Entries ranked by total value carried; kept if their mean is at least 1 (one step of the 0..10 scale).</summary>
    static List<(string, double)> Select(Dictionary<string, (double Sum, int Count)> stats, int budget) =>
        [.. stats.Where(kv => kv.Value.Sum / kv.Value.Count >= 1)
            .OrderByDescending(kv => kv.Value.Sum).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(budget)
            .Select(kv => (kv.Key, Math.Round(kv.Value.Sum / kv.Value.Count, 1)))];
}

/// <summary>What the offline simulator and judge read from a baseline explanation: a 0..10 value per token.</summary>
public interface IBaselinePrediction
{
    /// <summary>Predicted 0..10 value of each token of an excerpt.</summary>
    double[] Predict(IReadOnlyList<string> tokens);

    /// <summary><see cref="Predict"/> of each excerpt.</summary>
    IReadOnlyList<double[]> PredictAll(IReadOnlyList<IReadOnlyList<string>> excerpts) => [.. excerpts.Select(Predict)];

    /// <summary>The strongest weight the explanation names.</summary>
    double StrongestWeight { get; }
}
