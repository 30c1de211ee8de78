using System.Globalization;
using System.Text;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The text format shared by every explainer and simulator prompt: excerpts between <c>&lt;start&gt;</c> and
/// <c>&lt;end&gt;</c> lines, one <c>token&lt;tab&gt;value</c> line per token, values on the paper's 0..10 scale.
/// Tokens are escaped here, and only here, so the same corpus token reads the same in every prompt and no
/// token (tab, newline, a literal "&lt;start&gt;") can end a line, a column or an excerpt early.
/// </summary>
public static class PromptFormat
{
    public const string StartMarker = "<start>";
    public const string EndMarker = "<end>";
    public const int MaxNormalizedActivation = 10;

    /// <summary>The paper repeats the non-zero lines after an excerpt when fewer than this share are non-zero.</summary>
    public const double SparseShare = 0.2;

    /// <summary>
    /// Makes a token safe for one <c>token&lt;tab&gt;value</c> line: backslash, tab, line breaks, other control
    /// characters and angle brackets become backslash escapes, so no escaped token contains a tab, a line
    /// break or a marker. The mapping is injective (the backslash itself is escaped first).
    /// </summary>
    public static string EscapeToken(string token)
    {
        var sb = new StringBuilder(token.Length + 4);
        foreach (char c in token)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\t': sb.Append(@"\t"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '<': sb.Append(@"\<"); break;
                case '>': sb.Append(@"\>"); break;
                default:
                    // Other control characters and Unicode line/paragraph separators would break lines in some readers.
                    if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u0085')
                        sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>The largest activation over the excerpts shown, the scale of their 0..10 values.</summary>
    public static double MaxActivation(IEnumerable<ActivationRecord> records)
    {
        double max = 0;
        foreach (var record in records)
            foreach (double a in record.Activations)
                max = Math.Max(max, a);
        return max;
    }

    /// <summary><c>floor(10 * max(0, a) / maxActivation)</c> clipped to 0..10; all zeros when the maximum is not positive.</summary>
    public static int Normalize(double activation, double maxActivation)
    {
        if (!(maxActivation > 0)) return 0;
        double scaled = Math.Floor(MaxNormalizedActivation * Math.Max(0, activation) / maxActivation);
        return (int)Math.Clamp(scaled, 0, MaxNormalizedActivation);
    }

    public static int[] Normalize(IReadOnlyList<double> activations, double maxActivation)
    {
        var result = new int[activations.Count];
        for (int i = 0; i < result.Length; i++) result[i] = Normalize(activations[i], maxActivation);
        return result;
    }

    /// <summary>
    /// Appends one excerpt: <c>&lt;start&gt;</c>, a line per token with its value (or <paramref name="placeholder"/>
    /// when <paramref name="values"/> is null or the token comes before <paramref name="revealFrom"/>), <c>&lt;end&gt;</c>.
    /// Returns the character offset in <paramref name="sb"/> of each token's value, where the all-at-once simulator
    /// reads its predictions.
    /// </summary>
    public static int[] AppendExcerpt(StringBuilder sb, IReadOnlyList<string> tokens, IReadOnlyList<int>? values, string placeholder = "unknown",
        int revealFrom = 0)
    {
        if (values is not null && values.Count != tokens.Count)
            throw new ArgumentException($"{tokens.Count} tokens but {values.Count} values", nameof(values));
        var valueOffsets = new int[tokens.Count];
        sb.Append(StartMarker).Append('\n');
        for (int i = 0; i < tokens.Count; i++)
        {
            sb.Append(EscapeToken(tokens[i])).Append('\t');
            valueOffsets[i] = sb.Length;
            if (values is null || i < revealFrom) sb.Append(placeholder);
            else sb.Append(values[i].ToString(CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        sb.Append(EndMarker).Append('\n');
        return valueOffsets;
    }

    /// <summary>
    /// Appends the paper's repetition of a sparse excerpt's non-zero lines (after the full excerpt), so the
    /// explainer sees the few firing tokens without counting through zeros. Appends nothing for dense excerpts.
    /// </summary>
    public static void AppendNonZeroRepeat(StringBuilder sb, IReadOnlyList<string> tokens, IReadOnlyList<int> values)
    {
        int nonZero = values.Count(v => v > 0);
        if (nonZero == 0 || nonZero >= SparseShare * values.Count) return;
        sb.Append("The non-zero lines of that excerpt again:\n").Append(StartMarker).Append('\n');
        for (int i = 0; i < tokens.Count; i++)
            if (values[i] > 0)
                sb.Append(EscapeToken(tokens[i])).Append('\t').Append(values[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(EndMarker).Append('\n');
    }

    /// <summary>Parses a 0..10 value as a simulator writes it (surrounding whitespace allowed); null otherwise.</summary>
    public static int? ParseValue(string text)
    {
        var trimmed = text.AsSpan().Trim();
        if (trimmed.Length is 0 or > 2) return null;
        foreach (char c in trimmed) if (c is < '0' or > '9') return null;
        int value = int.Parse(trimmed, CultureInfo.InvariantCulture);
        return value <= MaxNormalizedActivation ? value : null;
    }
}
