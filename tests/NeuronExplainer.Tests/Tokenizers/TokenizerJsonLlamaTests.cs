using System.Text.Json;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>Llama-style tokenizer.json (byte fallback, "▁" marker) against tokenizers.js on hand-made fixtures.</summary>
public class TokenizerJsonLlamaTests
{
    private sealed record Line(string File, string? Text, int[] Ids, string? Decoded);

    public static TheoryData<string> Files => new() { "llama-legacy.tokenizer.json", "llama-metaspace.tokenizer.json" };

    private static List<Line> Expected(string file) => File.ReadLines(TokenizerFixtures.Path("llama-tokenizer-json.expected.txt"))
        .Select(l => JsonSerializer.Deserialize<Line>(l, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!)
        .Where(l => l.File == file).ToList();

    [Theory]
    [MemberData(nameof(Files))]
    public void Encode_and_decode_match_tokenizers_js(string file)
    {
        var tokenizer = TokenizerLoader.Load(TokenizerFixtures.Path(file));
        Assert.IsType<SentencePieceBpeTokenizer>(tokenizer);
        Assert.Equal((1, 2), (tokenizer.BosId, tokenizer.EosId));
        var lines = Expected(file);
        Assert.True(lines.Count > 10);
        foreach (var line in lines)
        {
            if (line.Text is not null) Assert.True(line.Ids.SequenceEqual(tokenizer.Encode(line.Text)),
                $"{file} {JsonSerializer.Serialize(line.Text)}: expected [{string.Join(",", line.Ids)}], got [{string.Join(",", tokenizer.Encode(line.Text))}]");
            else Assert.Equal(line.Decoded, tokenizer.Decode(line.Ids));
        }
    }

    [Fact]
    public void Byte_tokens_show_as_their_byte_and_the_marker_as_a_space()
    {
        var tokenizer = TokenizerLoader.Load(TokenizerFixtures.Path("llama-legacy.tokenizer.json"));
        Assert.Equal("\n", tokenizer.TokenString(3 + 0x0A));
        Assert.Equal("\uFFFD", tokenizer.TokenString(3 + 0xF0));
        int the = tokenizer.Encode("the")[0];
        Assert.Equal(" the", tokenizer.TokenString(the));
        // An emoji cut after its first bytes decodes to U+FFFD, and the rest of the text survives.
        var ids = tokenizer.Encode("ok 👍");
        Assert.Equal("ok \uFFFD", tokenizer.Decode([1, .. ids[..^2]]));
    }

    [Fact]
    public void Unsupported_settings_are_refused_instead_of_ignored()
    {
        string dir = Directory.CreateTempSubdirectory("tokenizer-json-").FullName;
        try
        {
            var json = File.ReadAllText(TokenizerFixtures.Path("llama-metaspace.tokenizer.json"));
            string path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, json.Replace("\"type\": \"Metaspace\"", "\"type\": \"Whitespace\""));
            Assert.Contains("Whitespace", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(path)).Message);
            File.WriteAllText(path, json.Replace("\"type\": \"BPE\"", "\"type\": \"Unigram\""));
            Assert.Contains("Unigram", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(path)).Message);
            File.WriteAllText(path, json.Replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}"));
            Assert.Contains("NFKC", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
