using System.Text;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Tests.Tokenizers;

public class TokenizerTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("tokenizer-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Write(string name, string content)
    {
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A llama2.c tokenizer.bin: control tokens, 256 byte tokens, then the given pieces.</summary>
    private string WriteLlama2c(params (string Piece, float Score)[] extra)
    {
        string path = Path.Combine(directory, "tokenizer.bin");
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(16);
        var pieces = new List<(string, float)> { ("<unk>", 0), ("\n<s>\n", 0), ("\n</s>\n", 0) };
        for (int b = 0; b < 256; b++) pieces.Add(($"<0x{b:X2}>", 0));
        pieces.AddRange(extra);
        foreach (var (piece, score) in pieces)
        {
            var bytes = Encoding.UTF8.GetBytes(piece);
            writer.Write(score);
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
        return path;
    }

    private static readonly Regex Gpt2Pattern = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant);

    [Fact]
    public void Gpt2_pre_tokenizer_cuts_like_the_regex_on_random_text()
    {
        // .NET's Regex sees UTF-16 units, so the comparison stays inside the BMP (no surrogates).
        var alphabet = "aZ é日9½ \t\n\r\u00a0\u2003'srevtmld!.,-_👍".Where(c => !char.IsSurrogate(c)).ToArray();
        var texts = Gen.ListOf(Gen.Elements(alphabet)).Select(chars => new string([.. chars])).ToArbitrary();
        Prop.ForAll(texts, text =>
        {
            var expected = Gpt2Pattern.Matches(text).Select(m => m.Value).ToList();
            var actual = new List<string>();
            for (int start = 0; start < text.Length;)
            {
                int end = Gpt2PreTokenizer.TokenEnd(text, start);
                actual.Add(text[start..end]);
                start = end;
            }
            return expected.SequenceEqual(actual);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Gpt2_pre_tokenizer_treats_supplementary_letters_as_letters()
    {
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter: " 𝐀𝐁" is one piece, as in Python's regex module.
        string text = " 𝐀𝐁!";
        Assert.Equal(5, Gpt2PreTokenizer.TokenEnd(text, 0));
    }

    [Fact]
    public void Byte_level_bpe_merges_all_occurrences_of_the_lowest_ranked_pair_left_to_right()
    {
        // Vocabulary: all 256 byte characters plus "aa" and "aaa"; "aa" ranks first.
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => ByteLevelAlphabet.ByteToChar[b].ToString(), b => b);
        vocab["aa"] = 256;
        vocab["aaa"] = 257;
        var tokenizer = new ByteLevelBpeTokenizer(vocab, [("a", "a"), ("aa", "a")], [("<|endoftext|>", 258)], 258, "test");
        Assert.Equal([256, 256], tokenizer.Encode("aaaa"));
        Assert.Equal([257], tokenizer.Encode("aaa"));
        Assert.Equal([256, 257], tokenizer.Encode("aaaaa"));
        Assert.Equal([(int)'a', 258, 256], tokenizer.Encode("a<|endoftext|>aa"));
        Assert.Equal("<|endoftext|>", tokenizer.TokenString(258));
        Assert.Equal(259, tokenizer.VocabSize);
    }

    [Fact]
    public void Llama2c_merges_the_best_score_first_and_the_leftmost_on_ties()
    {
        // " " (id 259), "a" (260), "aa" scores higher than " a", so "aaa" -> " " + "aa" + "a".
        string path = WriteLlama2c((" ", -5), ("a", -5), ("aa", -1), (" a", -2));
        var tokenizer = Llama2cTokenizer.Load(path);
        Assert.Equal([259, 261, 260], tokenizer.Encode("aaa"));
        Assert.Equal([259, 261, 261], tokenizer.Encode("aaaa"));
        Assert.Equal("aaa", tokenizer.Decode([1, 259, 261, 260, 2]));
        // Unknown characters fall back to their UTF-8 bytes, which decode back.
        Assert.Equal([259, 3 + 0xC3, 3 + 0xA9], tokenizer.Encode("é"));
        Assert.Equal("é", tokenizer.Decode(tokenizer.Encode("é")));
        Assert.Equal("\uFFFD", tokenizer.TokenString(3 + 0xC3));
        Assert.Equal(" a", tokenizer.TokenString(262));
    }

    [Fact]
    public void Llama2c_rejects_truncated_and_foreign_files_with_the_file_and_position()
    {
        string path = WriteLlama2c((" ", 0));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^1]);
        var error = Assert.Throws<NeuronExplainerException>(() => Llama2cTokenizer.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("token 259", error.Message);

        string foreign = Write("foreign.bin", "definitely not a tokenizer");
        Assert.Contains("max_token_length", Assert.Throws<NeuronExplainerException>(() => Llama2cTokenizer.Load(foreign)).Message);
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_names_the_id()
    {
        var tokenizer = Llama2cTokenizer.Load(WriteLlama2c((" ", 0)));
        var error = Assert.Throws<NeuronExplainerException>(() => tokenizer.Decode([5, 999]));
        Assert.Contains("999", error.Message);
        Assert.Throws<NeuronExplainerException>(() => tokenizer.TokenString(-1));
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void Loader_finds_the_tokenizer_files_of_a_directory_or_names_what_is_missing()
    {
        var gpt2 = TokenizerLoader.Load(SharedData.Path("models", "gpt2-tokenizer"));
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.Equal(50256, gpt2.EosId);
        Assert.Null(gpt2.BosId);
        Assert.Equal(" the", gpt2.TokenString(262));

        var tok512 = TokenizerLoader.Load(SharedData.Path("models", "stories260K", "tok512.bin"));
        Assert.Equal((512, 1, 2), (tok512.VocabSize, tok512.BosId, tok512.EosId));
        // A llama2.c model folder: its only tok*.bin.
        Assert.Equal(512, TokenizerLoader.Load(SharedData.Path("models", "stories260K")).VocabSize);

        var empty = Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory));
        Assert.Contains("tokenizer.json", empty.Message);
        Write("vocab.json", "{}");
        Assert.Contains("merges.txt is missing", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory)).Message);
        File.Delete(Path.Combine(directory, "vocab.json"));
        Write("tokenizer.model", "x");
        Assert.Contains("not supported", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory)).Message);
    }

    [Fact]
    public void Bad_vocabulary_and_merges_name_the_file_and_line()
    {
        var vocab = string.Join(",", Enumerable.Range(0, 256).Select(b => $"\"{JsonEscape(ByteLevelAlphabet.ByteToChar[b])}\": {b}"));
        Write("vocab.json", "{" + vocab + "}");
        Write("merges.txt", "#version: 0.2\na b\n");
        var error = Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory));
        Assert.Contains("merges.txt", error.Message);
        Assert.Contains("merge 1 'a b'", error.Message);
        Write("merges.txt", "#version: 0.2\nnot-a-pair\n");
        Assert.Contains("line 2", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory)).Message);
        Write("vocab.json", "{\"a\": 0");
        Assert.Contains("not valid JSON", Assert.Throws<NeuronExplainerException>(() => TokenizerLoader.Load(directory)).Message);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void Tokenizer_json_with_byte_level_bpe_loads_like_vocab_and_merges()
    {
        var gpt2 = (ByteLevelBpeTokenizer)TokenizerLoader.Load(SharedData.Path("models", "gpt2-tokenizer"));
        // A minimal tokenizer.json in the newer ["left", "right"] merges form, built from the shared files.
        var vocabJson = File.ReadAllText(SharedData.Path("models", "gpt2-tokenizer", "encoder.json"));
        var merges = File.ReadLines(SharedData.Path("models", "gpt2-tokenizer", "vocab.bpe")).Skip(1).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).Select(p => $"[\"{JsonEscape(p[0])}\",\"{JsonEscape(p[1])}\"]");
        Write("tokenizer.json", $$$"""
            {"added_tokens":[{"id":50256,"content":"<|endoftext|>","special":true}],
             "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},
             "model":{"type":"BPE","vocab":{{{vocabJson}}},"merges":[{{{string.Join(",", merges)}}}]}}
            """);
        var fromJson = TokenizerLoader.Load(directory);
        Assert.Equal(50256, fromJson.EosId);
        const string text = "Hello world<|endoftext|> café 👍  \n\n spaces";
        Assert.Equal(gpt2.Encode(text), fromJson.Encode(text));
    }

    private static string JsonEscape(string s) => System.Text.Json.JsonSerializer.Serialize(s)[1..^1];

    private static string JsonEscape(char c) => JsonEscape(c.ToString());
}
