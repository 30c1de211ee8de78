namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// GPT-2's reversible byte-to-character mapping: printable Latin-1 bytes stand for themselves and the
/// other 68 bytes (controls, space, DEL, NBSP, soft hyphen) are moved to U+0100 onward, so every byte
/// sequence becomes a string without whitespace or control characters in vocab.json and merges.txt.
/// </summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = BuildByteToChar();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    /// <summary>The bytes a vocabulary string stands for; null when it holds a character outside the alphabet.</summary>
    public static byte[]? ToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = CharToByte(token[i]);
            if (b < 0) return null;
            bytes[i] = (byte)b;
        }
        return bytes;
    }

    private static readonly short[] CharToByteMap = BuildCharToByte();

    private static short[] BuildCharToByte()
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    private static int CharToByte(char c) => c < CharToByteMap.Length ? CharToByteMap[c] : -1;
}
