using NeuronExplainer.Cli.Viewer;

namespace NeuronExplainer.Tests.Viewer;

public sealed class HighlightTests
{
    static (string, bool)[] Split(string text) => Highlight.Split(text, "[", "]").Select(s => (s.Text, s.Match)).ToArray();

    [Fact]
    public void Marked_words_become_matches() =>
        Assert.Equal([("a ", false), ("b", true), (" c ", false), ("d", true)], Split("a [b] c [d]"));

    [Fact]
    public void Text_without_markers_is_one_plain_span() =>
        Assert.Equal([("<b>plain</b> &amp;", false)], Split("<b>plain</b> &amp;"));

    [Fact]
    public void An_unclosed_marker_stays_text() =>
        Assert.Equal([("x ", false), ("y", true), (" [z", false)], Split("x [y] [z"));

    [Fact]
    public void Empty_text_has_no_spans() => Assert.Empty(Split(""));
}
