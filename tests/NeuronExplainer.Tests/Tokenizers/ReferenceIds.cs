using System.Security.Cryptography;
using System.Text.Json;
using NeuronExplainer.Models;

namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>
/// Expected token ids written by an independent reference (the generator scripts next to the fixture
/// files describe the format), and the comparison of a tokenizer against them.
/// </summary>
internal sealed class ReferenceIds
{
    public string CorpusHash { get; private set; } = "";
    public string TokensHash { get; private set; } = "";
    public List<(int Count, string Hash)> Docs { get; } = [];
    public Dictionary<int, int[]> FullIds { get; } = [];
    public List<(string Text, int[] Ids)> Cases { get; } = [];
    public List<(int[] Ids, string Text)> Decodes { get; } = [];

    private sealed record CaseLine(string Text, int[] Ids);

    public static ReferenceIds Load(string fixture)
    {
        var reference = new ReferenceIds();
        var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
        foreach (var line in File.ReadLines(TokenizerFixtures.Path(fixture)))
        {
            int space = line.IndexOf(' ');
            if (space < 0) continue;
            string kind = line[..space], rest = line[(space + 1)..];
            switch (kind)
            {
                case "corpus": reference.CorpusHash = rest; break;
                case "tokens": reference.TokensHash = rest; break;
                case "doc":
                    var parts = rest.Split(' ');
                    Assert.Equal(reference.Docs.Count, int.Parse(parts[0]));
                    reference.Docs.Add((int.Parse(parts[1]), parts[2]));
                    break;
                case "ids":
                    var numbers = rest.Split(' ').Select(int.Parse).ToArray();
                    reference.FullIds[numbers[0]] = numbers[1..];
                    break;
                case "case":
                    var c = JsonSerializer.Deserialize<CaseLine>(rest, options)!;
                    reference.Cases.Add((c.Text, c.Ids));
                    break;
                case "decode":
                    var d = JsonSerializer.Deserialize<CaseLine>(rest, options)!;
                    reference.Decodes.Add((d.Ids, d.Text));
                    break;
                default: throw new InvalidDataException($"{fixture}: unknown line kind '{kind}'");
            }
        }
        return reference;
    }

    /// <summary>Encodes every document and compares ids, naming the first document and position that differ.</summary>
    public void AssertCorpus(ITokenizer tokenizer, IReadOnlyList<string> docs)
    {
        Assert.Equal(Docs.Count, docs.Count);
        using var corpus = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < docs.Count; i++)
        {
            var ids = tokenizer.Encode(docs[i]);
            if (FullIds.TryGetValue(i, out var expected)) AssertSameIds(expected, ids, $"document {i}");
            var bytes = Int32Bytes(ids);
            string hash = Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
            Assert.True(Docs[i] == (ids.Length, hash), $"document {i}: {ids.Length} ids with hash {hash}, reference has {Docs[i].Count} ids with hash {Docs[i].Hash}");
            corpus.AppendData(bytes);
            corpus.AppendData(Int32Bytes([-1]));
            Assert.Equal(docs[i], tokenizer.Decode(ids));
        }
        Assert.Equal(CorpusHash, Convert.ToHexStringLower(corpus.GetHashAndReset()));
    }

    public void AssertCases(ITokenizer tokenizer)
    {
        Assert.NotEmpty(Cases);
        foreach (var (text, ids) in Cases) AssertSameIds(ids, tokenizer.Encode(text), $"text {JsonSerializer.Serialize(text)}");
    }

    public void AssertCasesAndDecodes(ITokenizer tokenizer)
    {
        AssertCases(tokenizer);
        Assert.NotEmpty(Decodes);
        foreach (var (ids, text) in Decodes) Assert.Equal(text, tokenizer.Decode(ids));

        using var tokens = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            tokens.AppendData(System.Text.Encoding.UTF8.GetBytes(tokenizer.TokenString(id)));
            tokens.AppendData([0xFF]);
        }
        Assert.Equal(TokensHash, Convert.ToHexStringLower(tokens.GetHashAndReset()));
    }

    private static void AssertSameIds(int[] expected, int[] actual, string what)
    {
        int at = 0;
        while (at < expected.Length && at < actual.Length && expected[at] == actual[at]) at++;
        if (at == expected.Length && at == actual.Length) return;
        Assert.Fail($"{what}: ids differ at position {at} (of {expected.Length} expected, {actual.Length} got): expected "
            + $"[{string.Join(", ", expected.Skip(at).Take(8))}], got [{string.Join(", ", actual.Skip(at).Take(8))}]");
    }

    private static byte[] Int32Bytes(int[] ids)
    {
        var bytes = new byte[ids.Length * 4];
        for (int i = 0; i < ids.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), ids[i]);
        return bytes;
    }
}
