using System.Text.RegularExpressions;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// One step of a byte-level pre-tokenizer: cuts a piece of text into smaller pieces. Steps run in
/// sequence, each on the pieces of the one before, as Hugging Face's Sequence pre-tokenizer does
/// (so patterns see only their piece, never the text around it).
/// </summary>
internal abstract class PreTokenizerStep
{
    /// <summary>End (exclusive) of the piece of <paramref name="text"/> that starts at <paramref name="start"/>.</summary>
    public abstract int PieceEnd(ReadOnlySpan<char> text, int start);

    /// <summary>GPT-2's pattern (ByteLevel with use_regex).</summary>
    public sealed class Gpt2 : PreTokenizerStep
    {
        public static readonly Gpt2 Instance = new();

        public override int PieceEnd(ReadOnlySpan<char> text, int start) => Gpt2PreTokenizer.TokenEnd(text, start);
    }

    /// <summary>
    /// Split with behavior "Isolated": every match is a piece and so is the text between matches
    /// (Llama 3's and Qwen2's patterns). .NET's Regex sees UTF-16 units, so a letter or digit outside
    /// the Basic Multilingual Plane does not count as \p{L} or \p{N} here.
    /// </summary>
    public sealed class Isolate(Regex pattern) : PreTokenizerStep
    {
        public override int PieceEnd(ReadOnlySpan<char> text, int start)
        {
            foreach (var match in pattern.EnumerateMatches(text, start))
            {
                if (match.Length == 0) continue;
                return match.Index == start ? start + match.Length : match.Index;
            }
            return text.Length;
        }
    }

    /// <summary>Digits: runs of ASCII digits (or each digit alone) become their own pieces, as in the tokenizers crate.</summary>
    public sealed class Digits(bool individual) : PreTokenizerStep
    {
        public override int PieceEnd(ReadOnlySpan<char> text, int start)
        {
            bool digit = char.IsAsciiDigit(text[start]);
            if (digit && individual) return start + 1;
            int end = start + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end]) == digit) end++;
            return end;
        }
    }
}
