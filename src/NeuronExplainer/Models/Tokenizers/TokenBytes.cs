using System.Buffers;
using System.Text;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>Each token's bytes, and decoding of id sequences through them.</summary>
internal sealed class TokenBytes(byte[][] bytesById, string source)
{
    // Not strict: invalid or partial UTF-8 becomes U+FFFD, one per maximal invalid subpart (Unicode's
    // recommended practice, as Python's errors="replace" and the WHATWG TextDecoder do).
    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public int Count => bytesById.Length;

    public byte[] this[int id] => id >= 0 && id < bytesById.Length
        ? bytesById[id]
        : throw new NeuronExplainerException($"token id {id} is outside the vocabulary of {source} (expected 0..{bytesById.Length - 1})");

    /// <summary>Text of the concatenated bytes of <paramref name="ids"/>.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        foreach (int id in ids) buffer.Write(this[id]);
        return Utf8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Sentencepiece-style decoding: BOS and EOS add no text, and the first token and a token right after
    /// BOS use <paramref name="atStart"/>'s bytes (the dummy-prefix space dropped) when it is given.
    /// </summary>
    public string DecodeDroppingDummyPrefix(ReadOnlySpan<int> ids, int? bosId, int? eosId, byte[][]? atStart)
    {
        var buffer = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        bool first = true;
        foreach (int id in ids)
        {
            var bytes = this[id];
            if (id == bosId || id == eosId)
            {
                first = id == bosId;
                continue;
            }
            buffer.Write(first && atStart is not null ? atStart[id] : bytes);
            first = false;
        }
        return Utf8.GetString(buffer.WrittenSpan);
    }

    public static string ToText(ReadOnlySpan<byte> bytes) => Utf8.GetString(bytes);
}
