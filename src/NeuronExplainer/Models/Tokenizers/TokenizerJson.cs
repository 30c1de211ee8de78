using System.Text.Json;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// Hugging Face tokenizer.json files whose model is BPE: byte-level ones (GPT-2 and its relatives,
/// pre-tokenizer ByteLevel) load as <see cref="ByteLevelBpeTokenizer"/>. Added tokens are cut out of
/// the text as their own ids.
/// </summary>
public static class TokenizerJson
{
    public static ITokenizer Load(string path)
    {
        using var document = TokenizerFiles.ParseJson(path);
        var root = document.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new NeuronExplainerException($"{path}: no \"model\" object; expected a Hugging Face tokenizer.json");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (type != "BPE")
            throw new NeuronExplainerException($"{path}: model.type is '{type}', only BPE tokenizers are supported");
        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw new NeuronExplainerException($"{path}: model.vocab is missing or not an object");
        var vocab = TokenizerFiles.ReadVocabObject(vocabElement, $"{path} model.vocab");
        var merges = ReadMerges(model, path);
        var added = ReadAddedTokens(root, path);

        if (!IsByteLevel(root))
            throw new NeuronExplainerException($"{path}: only byte-level BPE (pre_tokenizer ByteLevel, as GPT-2) is supported");
        int? eos = added.Concat(vocab.Select(kv => (kv.Key, kv.Value)))
            .Where(token => token.Item1 == ByteLevelBpeTokenizer.EndOfText).Select(token => (int?)token.Item2).FirstOrDefault();
        // Added tokens can be missing from model.vocab; they decode as their own text.
        return new ByteLevelBpeTokenizer(vocab, merges, added, eos, path);
    }

    private static bool IsByteLevel(JsonElement root) =>
        root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object && Mentions(pre, "ByteLevel");

    /// <summary>Whether a pre-tokenizer (or a Sequence of them) contains one of the given type.</summary>
    internal static bool Mentions(JsonElement element, string type)
    {
        if (element.ValueKind != JsonValueKind.Object) return false;
        if (element.TryGetProperty("type", out var t) && t.GetString() == type) return true;
        foreach (var listName in new[] { "pretokenizers", "normalizers", "decoders" })
            if (element.TryGetProperty(listName, out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var item in list.EnumerateArray())
                    if (Mentions(item, type)) return true;
        return false;
    }

    /// <summary>Merges as "left right" strings (older files) or ["left", "right"] pairs (newer files).</summary>
    internal static List<(string Left, string Right)> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new NeuronExplainerException($"{path}: model.merges is missing or not an array");
        int index = 0;
        foreach (var item in list.EnumerateArray())
        {
            string where = $"{path} model.merges[{index++}]";
            if (item.ValueKind == JsonValueKind.String) merges.Add(TokenizerFiles.SplitMerge(item.GetString()!, where));
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
                merges.Add((item[0].GetString()!, item[1].GetString()!));
            else throw new NeuronExplainerException($"{where}: expected \"left right\" or [\"left\", \"right\"], got {item.GetRawText()}");
        }
        return merges;
    }

    internal static List<(string Text, int Id)> ReadAddedTokens(JsonElement root, string path)
    {
        var added = new List<(string, int)>();
        if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind != JsonValueKind.Array) return added;
        int index = 0;
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value)
                || !item.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new NeuronExplainerException($"{path} added_tokens[{index}]: expected an object with an integer \"id\" and a string \"content\"");
            added.Add((content.GetString()!, value));
            index++;
        }
        return added;
    }
}
