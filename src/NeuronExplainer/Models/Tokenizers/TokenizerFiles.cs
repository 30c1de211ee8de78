using System.Text.Json;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>Readers for the plain tokenizer files (vocab.json, merges.txt), with errors that name the file and line.</summary>
internal static class TokenizerFiles
{
    public static Dictionary<string, int> ReadVocabJson(string path)
    {
        using var document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new NeuronExplainerException($"{path}: expected a JSON object mapping token strings to ids");
        return ReadVocabObject(document.RootElement, path);
    }

    public static Dictionary<string, int> ReadVocabObject(JsonElement element, string where)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out int id))
                throw new NeuronExplainerException($"{where}: token '{property.Name}' has id {property.Value.GetRawText()}, expected an integer");
            vocab[property.Name] = id;
        }
        return vocab;
    }

    public static List<(string Left, string Right)> ReadMergesText(string path)
    {
        var merges = new List<(string, string)>(50_000);
        int lineNumber = 0;
        foreach (var line in ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            merges.Add(SplitMerge(line, $"{path} line {lineNumber}"));
        }
        return merges;
    }

    /// <summary>One merge rule "left right" (the two tokens never contain a space in byte-level alphabets).</summary>
    public static (string Left, string Right) SplitMerge(string rule, string where)
    {
        int space = rule.IndexOf(' ');
        if (space <= 0 || space == rule.Length - 1 || rule.IndexOf(' ', space + 1) >= 0)
            throw new NeuronExplainerException($"{where}: expected a merge rule 'left right', got '{rule}'");
        return (rule[..space], rule[(space + 1)..]);
    }

    public static JsonDocument ParseJson(string path)
    {
        try
        {
            using var stream = OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new NeuronExplainerException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        using var reader = new StreamReader(OpenRead(path));
        while (reader.ReadLine() is { } line) yield return line;
    }

    public static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new NeuronExplainerException($"tokenizer file not found: {path}");
        return File.OpenRead(path);
    }
}
