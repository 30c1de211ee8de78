using System.Text;
using System.Text.Json;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>Token-for-token agreement with independent references on the shared corpora.</summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public class TokenizerParityTests
{
    private static readonly Lazy<ByteLevelBpeTokenizer> Gpt2 = new(() => ByteLevelBpeTokenizer.FromVocabAndMerges(
        SharedData.Path("models", "gpt2-tokenizer", "encoder.json"), SharedData.Path("models", "gpt2-tokenizer", "vocab.bpe")));

    private static readonly Lazy<Llama2cTokenizer> Tok512 = new(() => Llama2cTokenizer.Load(SharedData.Path("models", "stories260K", "tok512.bin")));

    [Fact]
    public void Gpt2_matches_js_tiktoken_on_every_webtext_document()
    {
        var docs = File.ReadLines(SharedData.Path("corpora", "webtext-test.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!)
            .ToList();
        ReferenceIds.Load("gpt2-webtext.expected.txt").AssertCorpus(Gpt2.Value, docs);
    }

    [Fact]
    public void Gpt2_matches_js_tiktoken_on_hand_written_cases_invalid_utf8_and_token_strings() =>
        ReferenceIds.Load("gpt2-webtext.expected.txt").AssertCasesAndDecodes(Gpt2.Value);

    [Fact]
    public void Llama2c_matches_python_reference_on_every_tinystories_document()
    {
        // The file is cut at 2 MiB, possibly inside a character: decode as the reference does, with U+FFFD.
        string raw = new UTF8Encoding(false, false).GetString(File.ReadAllBytes(SharedData.Path("corpora", "tinystories-train-head.txt")));
        var docs = raw.Split("<|endoftext|>").Select(d => d.Trim()).Where(d => d.Length > 0).ToList();
        ReferenceIds.Load("llama2c-tinystories.expected.txt").AssertCorpus(Tok512.Value, docs);
    }

    [Fact]
    public void Llama2c_matches_python_reference_on_hand_written_cases_invalid_utf8_and_token_strings() =>
        ReferenceIds.Load("llama2c-tinystories.expected.txt").AssertCasesAndDecodes(Tok512.Value);
}
