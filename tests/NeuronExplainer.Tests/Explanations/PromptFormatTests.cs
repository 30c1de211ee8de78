using System.Text;
using FsCheck;
using FsCheck.Fluent;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Explanations;

public class PromptFormatTests
{
    public static readonly string[] HostileTokens =
    [
        "\t", "\n", "\r\n", "<start>", "<end>", "a\tb", "x\n<end>\ny\t10", "\\t", "\\", "<", ">", "\u2028", "\u0000", "",
        " unknown", "10", "\"quoted\"", "tab\there", "<|endoftext|>",
    ];

    [Theory]
    [InlineData(0.0, 5.0, 0)]
    [InlineData(-3.0, 5.0, 0)]
    [InlineData(5.0, 5.0, 10)]
    [InlineData(4.99, 5.0, 9)]
    [InlineData(2.5, 5.0, 5)]
    [InlineData(7.0, 5.0, 10)]
    [InlineData(1.0, 0.0, 0)]
    [InlineData(1.0, -2.0, 0)]
    public void Normalize_is_floor_of_ten_times_share_of_max_clipped(double activation, double max, int expected) =>
        Assert.Equal(expected, PromptFormat.Normalize(activation, max));

    [Fact]
    public void Escaped_tokens_never_contain_tabs_line_breaks_or_markers() =>
        Prop.ForAll(Arb.From(Gen.Elements("<start>", "<end>", "\t", "\n", "\r", "\\", "<", ">", "\u2028", "a", " b", "é")
            .ArrayOf().Select(parts => string.Concat(parts))), token =>
        {
            string escaped = PromptFormat.EscapeToken(token ?? "");
            return escaped.IndexOfAny(['\t', '\n', '\r', '\u2028', '\u2029', '\u0085']) < 0
                && !escaped.Contains(PromptFormat.StartMarker) && !escaped.Contains(PromptFormat.EndMarker);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Escaping_is_injective() =>
        Prop.ForAll<string>(token => Unescape(PromptFormat.EscapeToken(token ?? "")) == (token ?? "")).QuickCheckThrowOnFailure();

    [Fact]
    public void Hostile_tokens_keep_one_line_per_token_and_values_at_their_offsets()
    {
        var sb = new StringBuilder("prefix\n");
        int[] values = [.. HostileTokens.Select((_, i) => i % 11)];
        var offsets = PromptFormat.AppendExcerpt(sb, HostileTokens, values);
        string text = sb.ToString();
        var lines = text["prefix\n".Length..].TrimEnd('\n').Split('\n');

        Assert.Equal(HostileTokens.Length + 2, lines.Length);
        Assert.Equal(PromptFormat.StartMarker, lines[0]);
        Assert.Equal(PromptFormat.EndMarker, lines[^1]);
        for (int i = 0; i < HostileTokens.Length; i++)
        {
            var columns = lines[i + 1].Split('\t');
            Assert.Equal(2, columns.Length);
            Assert.Equal(HostileTokens[i], Unescape(columns[0]));
            Assert.Equal(values[i].ToString(), columns[1]);
            Assert.StartsWith(values[i].ToString() + "\n", text[offsets[i]..]);
        }
    }

    [Fact]
    public void Placeholder_excerpt_puts_the_placeholder_at_each_value_offset()
    {
        var sb = new StringBuilder();
        var offsets = PromptFormat.AppendExcerpt(sb, HostileTokens, null);
        Assert.All(offsets, o => Assert.StartsWith("unknown\n", sb.ToString()[o..]));
    }

    [Fact]
    public void Sparse_excerpts_repeat_only_their_non_zero_lines()
    {
        string[] tokens = [.. Enumerable.Range(0, 20).Select(i => $"t{i}")];
        int[] values = new int[20];
        values[3] = 7;
        values[12] = 10;
        var sb = new StringBuilder();
        PromptFormat.AppendNonZeroRepeat(sb, tokens, values);
        Assert.Contains("<start>\nt3\t7\nt12\t10\n<end>\n", sb.ToString());

        var dense = new StringBuilder();
        PromptFormat.AppendNonZeroRepeat(dense, tokens, [.. values.Select((_, i) => i % 2)]);
        Assert.Equal("", dense.ToString());
    }

    [Theory]
    [InlineData("7", 7)]
    [InlineData(" 10 ", 10)]
    [InlineData("0", 0)]
    [InlineData("11", null)]
    [InlineData("-1", null)]
    [InlineData("seven", null)]
    [InlineData("", null)]
    [InlineData("3.5", null)]
    public void Values_parse_only_as_integers_from_0_to_10(string text, int? expected) =>
        Assert.Equal(expected, PromptFormat.ParseValue(text));

    /// <summary>Inverse of <see cref="PromptFormat.EscapeToken"/>, to prove nothing is lost.</summary>
    static string Unescape(string escaped)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != '\\') { sb.Append(escaped[i]); continue; }
            char c = escaped[++i];
            sb.Append(c switch
            {
                't' => "\t",
                'n' => "\n",
                'r' => "\r",
                'u' => ((char)Convert.ToInt32(escaped.Substring(i + 1, 4), 16)).ToString(),
                _ => c.ToString(),
            });
            if (c == 'u') i += 4;
        }
        return sb.ToString();
    }
}
