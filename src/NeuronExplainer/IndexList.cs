using System.Globalization;

namespace NeuronExplainer;

/// <summary>Index lists of the command line (layers, neurons): "all" (null) or numbers and ranges such as 0,3-5 or 0-99,120.</summary>
public static class IndexList
{
    /// <summary>No model has layers or neurons this many; a larger list is a typo that would fill memory before any range check.</summary>
    const int MaxIndices = 1 << 20;

    /// <summary>The indices in ascending order, or null for "all"; a malformed list is a <see cref="SettingException"/> of <paramref name="setting"/>.</summary>
    public static SortedSet<int>? Parse(string text, string setting)
    {
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return null;
        var result = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length is 1 or 2
                && int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out int first)
                && int.TryParse(ends[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int last) && first <= last)
            {
                if ((long)last - first + result.Count >= MaxIndices)
                    throw new SettingException(setting, $"'{text}' names more than {MaxIndices:N0} indices; expected the layers or neurons of a model");
                for (int i = first; i <= last; i++) result.Add(i);
                continue;
            }
            throw new SettingException(setting, $"'{text}' is not a list; expected 'all' or numbers and ranges such as 0,3-5");
        }
        return result;
    }
}
