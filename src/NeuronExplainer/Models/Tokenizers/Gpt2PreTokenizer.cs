using System.Globalization;
using System.Text;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// GPT-2's pre-tokenisation, the regex
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// written out as a scanner: it is the hottest loop of corpus tokenisation, and it classifies whole code
/// points (as Python's regex module does) where .NET's Regex would see surrogate halves.
/// </summary>
internal static class Gpt2PreTokenizer
{
    private enum CharClass : byte { Other, Letter, Number, Space }

    private static readonly CharClass[] AsciiClasses = BuildAsciiClasses();

    private static CharClass[] BuildAsciiClasses()
    {
        var classes = new CharClass[128];
        for (int c = 0; c < 128; c++) classes[c] = ClassifyRune(new Rune(c));
        return classes;
    }

    private static CharClass ClassifyRune(Rune rune)
    {
        if (Rune.IsWhiteSpace(rune)) return CharClass.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.Other,
        };
    }

    private static CharClass Classify(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        width = 1;
        if (c < 128) return AsciiClasses[c];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            return ClassifyRune(new Rune(c, text[i + 1]));
        }
        // A lone surrogate is no letter, number or space.
        return char.IsSurrogate(c) ? CharClass.Other : ClassifyRune(new Rune(c));
    }

    /// <summary>End (exclusive) of the pre-token that starts at <paramref name="start"/>.</summary>
    public static int TokenEnd(ReadOnlySpan<char> text, int start)
    {
        int length = text.Length;
        if (text[start] == '\'' && start + 1 < length)
        {
            char c1 = text[start + 1];
            if (c1 is 's' or 't' or 'm' or 'd') return start + 2;
            if (start + 2 < length)
            {
                char c2 = text[start + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return start + 3;
            }
        }

        var cls = Classify(text, start, out int width);
        if (text[start] == ' ' && start + 1 < length)
        {
            var next = Classify(text, start + 1, out int nextWidth);
            if (next != CharClass.Space) return RunEnd(text, start + 1 + nextWidth, next);
        }
        if (cls != CharClass.Space) return RunEnd(text, start + width, cls);

        // Whitespace: \s+(?!\S) leaves the last space of a run to the word after it; a single
        // whitespace character before a word falls through to the plain \s+.
        int end = RunEnd(text, start + width, CharClass.Space);
        return end < length && end - start >= 2 ? end - 1 : end;
    }

    private static int RunEnd(ReadOnlySpan<char> text, int i, CharClass cls)
    {
        while (i < text.Length && Classify(text, i, out int width) == cls) i += width;
        return i;
    }
}
