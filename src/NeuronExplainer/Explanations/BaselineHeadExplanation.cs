using System.Text;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The offline baseline's explanation of an attention head: the (query token, attended token) pairs it is most often active
/// on, each with a weight on the 0..10 prompt scale, e.g. <c>attends from "and" to "the" (7.2), from "." to "Lily" (3.0)</c>.
/// Tokens are matched as <see cref="BaselineExplanation.Key"/> matches them. The simulator reads it back: a token's value is
/// the weight of the strongest pair whose query is that token and whose attended token occurs at or before it.
/// </summary>
public sealed record BaselineHeadExplanation(IReadOnlyList<(string Query, string Source, double Weight)> Pairs) : IBaselinePrediction
{
    const string Lead = "attends ";

    public double StrongestWeight => Pairs.Max(p => p.Weight);

    public override string ToString()
    {
        var sb = new StringBuilder(Lead);
        for (int i = 0; i < Pairs.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append("from ").Append(BaselineExplanation.Quote(Pairs[i].Query)).Append(" to ");
            BaselineExplanation.AppendEntry(sb, Pairs[i].Source, Pairs[i].Weight);
        }
        return sb.ToString();
    }

    /// <summary>Reads an explanation written by <see cref="ToString"/>; null for any other text.</summary>
    public static BaselineHeadExplanation? TryParse(string text)
    {
        if (!text.StartsWith(Lead, StringComparison.Ordinal)) return null;
        var pairs = new List<(string, string, double)>();
        int pos = Lead.Length;
        while (true)
        {
            if (!text.AsSpan(pos).StartsWith("from ", StringComparison.Ordinal)) return null;
            pos += 5;
            if (!BaselineExplanation.TryReadQuoted(text, ref pos, out string query) || !text.AsSpan(pos).StartsWith(" to ", StringComparison.Ordinal)) return null;
            pos += 4;
            if (!BaselineExplanation.TryReadEntry(text, ref pos, out var source)) return null;
            pairs.Add((query, source.Token, source.Weight));
            if (pos == text.Length) return new BaselineHeadExplanation(pairs);
            if (!text.AsSpan(pos).StartsWith(", ", StringComparison.Ordinal)) return null;
            pos += 2;
        }
    }

    public double[] Predict(IReadOnlyList<string> tokens)
    {
        var byQuery = Pairs.GroupBy(p => p.Query).ToDictionary(g => g.Key, g => g.ToList());
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new double[tokens.Count];
        for (int i = 0; i < tokens.Count; i++)
        {
            string key = BaselineExplanation.Key(tokens[i]);
            seen.Add(key);
            if (!byQuery.TryGetValue(key, out var pairs)) continue;
            foreach (var (_, source, weight) in pairs)
                if (seen.Contains(source)) result[i] = Math.Max(result[i], weight);
            result[i] = Math.Min(PromptFormat.MaxNormalizedActivation, result[i]);
        }
        return result;
    }

    /// <summary>
    /// Derives an explanation from a head's excerpts: per active token (at least 1 on the 0..10 scale) the pair of it and the
    /// token it attends to most; the <paramref name="budget"/> pairs seen most often at active tokens (ties: more value carried,
    /// then by text), each weighted by the mean 0..10 value at every token where it is the strongest pair. Null when the
    /// excerpts carry no attended tokens.
    /// </summary>
    public static BaselineHeadExplanation? Derive(IReadOnlyList<ActivationRecord> records, int budget)
    {
        if (records.Any(r => r.Attended is null)) return null;
        var scaled = BaselineExplanation.Scaled(records);
        var values = new Dictionary<(string, string), (double Sum, int Count)>();
        var active = new Dictionary<(string, string), int>();
        for (int r = 0; r < records.Count; r++)
            for (int t = 0; t < scaled[r].Length; t++)
            {
                if (records[r].Attended![t] is not [var strongest, ..]) continue;
                var key = (BaselineExplanation.Key(records[r].Tokens[t]), BaselineExplanation.Key(records[r].Tokens[strongest.Position]));
                BaselineExplanation.Accumulate(values, key, scaled[r][t]);
                if (scaled[r][t] >= 1) active[key] = active.GetValueOrDefault(key) + 1;
            }
        return new BaselineHeadExplanation([.. active
            .Where(kv => values[kv.Key].Sum / values[kv.Key].Count >= 1)
            .OrderByDescending(kv => kv.Value).ThenByDescending(kv => values[kv.Key].Sum).ThenBy(kv => kv.Key.Item1, StringComparer.Ordinal).ThenBy(kv => kv.Key.Item2, StringComparer.Ordinal)
            .Take(budget)
            .Select(kv => (kv.Key.Item1, kv.Key.Item2, Math.Round(values[kv.Key].Sum / values[kv.Key].Count, 1)))]);
    }
}
