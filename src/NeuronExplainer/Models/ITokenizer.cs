namespace NeuronExplainer.Models;

/// <summary>
/// Text to token ids and back. Two real families implement it: GPT-2 byte-level BPE and
/// sentencepiece-style tokenizers (llama2.c tokenizer.bin, Hugging Face tokenizer.json).
/// </summary>
public interface ITokenizer
{
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the model uses none (GPT-2).</summary>
    int? BosId { get; }

    /// <summary>End-of-text id (GPT-2's &lt;|endoftext|&gt;, Llama's EOS), or null.</summary>
    int? EosId { get; }

    /// <summary>Encodes text as the model would see it, without BOS.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids to text; invalid UTF-8 byte sequences become U+FFFD.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>One token as a display string, as OpenAI's records show tokens (e.g. " the").</summary>
    string TokenString(int id);
}
