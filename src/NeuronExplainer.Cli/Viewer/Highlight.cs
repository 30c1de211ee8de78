namespace NeuronExplainer.Cli.Viewer;

/// <summary>
/// Turns the store's highlighted text into plain spans, so the page never parses markup out of data:
/// an explanation that itself contains the marker-like text "&lt;b&gt;" still renders as text.
/// </summary>
public static class Highlight
{
    public static IReadOnlyList<TextSpan> Split(string highlighted, string open, string close)
    {
        var spans = new List<TextSpan>();
        int at = 0;
        while (at < highlighted.Length)
        {
            int start = highlighted.IndexOf(open, at, StringComparison.Ordinal);
            int end = start < 0 ? -1 : highlighted.IndexOf(close, start + open.Length, StringComparison.Ordinal);
            if (start < 0 || end < 0)
            {
                Add(spans, highlighted[at..], false);
                break;
            }
            Add(spans, highlighted[at..start], false);
            Add(spans, highlighted[(start + open.Length)..end], true);
            at = end + close.Length;
        }
        return spans;
    }

    static void Add(List<TextSpan> spans, string text, bool match)
    {
        if (text.Length > 0) spans.Add(new TextSpan(text, match));
    }
}
