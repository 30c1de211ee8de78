using System.Text.Json;
using System.Text.Json.Nodes;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>
/// Byte-level tokenizer.json files with other pre-tokenizers (Llama 3's Split pattern with ignore_merges,
/// SmolLM's Digits), built on GPT-2's vocabulary as byte-level-variants-reference.mjs builds them, against
/// tokenizers.js.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public class ByteLevelVariantTests
{
    public static TheoryData<string> Variants => new() { "llama3-style", "smollm-style" };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Matches_tokenizers_js_on_webtext_and_hand_written_cases(string variant)
    {
        var config = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.Path("byte-level-variants.json")))![variant]!;
        var merges = new JsonArray(File.ReadLines(SharedData.Path("models", "gpt2-tokenizer", "vocab.bpe")).Skip(1)
            .Where(l => l.Length > 0).Select(l => (JsonNode)JsonValue.Create(l)!).ToArray());
        var json = new JsonObject
        {
            ["added_tokens"] = JsonNode.Parse("[{\"id\": 50256, \"content\": \"<|endoftext|>\", \"special\": true}]"),
            ["normalizer"] = null,
            ["pre_tokenizer"] = config["pre_tokenizer"]!.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["ignore_merges"] = config["ignore_merges"]!.DeepClone(),
                ["vocab"] = JsonNode.Parse(File.ReadAllText(SharedData.Path("models", "gpt2-tokenizer", "encoder.json"))),
                ["merges"] = merges,
            },
        };
        string dir = Directory.CreateTempSubdirectory("byte-level-variant-").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, json.ToJsonString());
            var tokenizer = TokenizerLoader.Load(path);
            Assert.Equal(50256, tokenizer.EosId);

            var reference = ReferenceIds.Load($"byte-level-{variant}.expected.txt");
            var docs = File.ReadLines(SharedData.Path("corpora", "webtext-test.jsonl")).Where(l => l.Length > 0).Take(reference.Docs.Count)
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToList();
            reference.AssertCorpus(tokenizer, docs);
            reference.AssertCases(tokenizer);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
