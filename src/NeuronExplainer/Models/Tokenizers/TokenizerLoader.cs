namespace NeuronExplainer.Models.Tokenizers;

/// <summary>Finds and loads the tokenizer of a model directory or a llama2.c tokenizer file.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// <paramref name="path"/> is a model directory (Hugging Face layout, or a llama2.c directory with a
    /// tokenizer.bin) or a tokenizer file: tokenizer.json, vocab.json / encoder.json (merges next to it),
    /// or a llama2.c tokenizer .bin.
    /// </summary>
    public static ITokenizer Load(string path)
    {
        if (Directory.Exists(path)) return FromDirectory(path);
        if (!File.Exists(path)) throw new NeuronExplainerException($"tokenizer not found: {path} is neither a directory nor a file");

        string name = Path.GetFileName(path);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (name.Equals("vocab.json", StringComparison.OrdinalIgnoreCase))
            return ByteLevelBpeTokenizer.FromVocabAndMerges(path, RequireSibling(directory, "merges.txt", path));
        if (name.Equals("encoder.json", StringComparison.OrdinalIgnoreCase))
            return ByteLevelBpeTokenizer.FromVocabAndMerges(path, RequireSibling(directory, "vocab.bpe", path));
        if (name.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return TokenizerJson.Load(path);
        if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cTokenizer.Load(path);
        if (name.EndsWith(".model", StringComparison.OrdinalIgnoreCase)) throw TokenizerModelUnsupported(path);
        throw new NeuronExplainerException($"{path}: unknown tokenizer file; expected tokenizer.json, vocab.json (+ merges.txt), encoder.json (+ vocab.bpe) or a llama2.c tokenizer .bin");
    }

    /// <summary>
    /// The first of tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, tokenizer.bin or the
    /// only tok*.bin found in the directory.
    /// </summary>
    public static ITokenizer FromDirectory(string directory)
    {
        string File(string name) => Path.Combine(directory, name);
        bool Has(string name) => System.IO.File.Exists(File(name));

        if (Has("tokenizer.json")) return TokenizerJson.Load(File("tokenizer.json"));
        if (Has("vocab.json") && Has("merges.txt")) return ByteLevelBpeTokenizer.FromVocabAndMerges(File("vocab.json"), File("merges.txt"));
        if (Has("encoder.json") && Has("vocab.bpe")) return ByteLevelBpeTokenizer.FromVocabAndMerges(File("encoder.json"), File("vocab.bpe"));
        var llama2c = Llama2cTokenizerFiles(directory);
        if (llama2c.Count == 1) return Llama2cTokenizer.Load(llama2c[0]);
        if (llama2c.Count > 1)
            throw new NeuronExplainerException($"{directory}: several llama2.c tokenizers ({string.Join(", ", llama2c.Select(Path.GetFileName))}); name one");
        if (Has("vocab.json")) throw new NeuronExplainerException($"{directory}: vocab.json is there but merges.txt is missing");
        if (Has("merges.txt")) throw new NeuronExplainerException($"{directory}: merges.txt is there but vocab.json is missing");
        if (Has("tokenizer.model")) throw TokenizerModelUnsupported(File("tokenizer.model"));
        throw new NeuronExplainerException(
            $"{directory}: no tokenizer found; expected tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, or tokenizer.bin");
    }

    /// <summary>
    /// llama2.c tokenizers in a directory: tokenizer.bin when present, else every tok*.bin (tok512.bin
    /// beside stories260K.bin), leaving out <paramref name="checkpointName"/>.
    /// </summary>
    public static IReadOnlyList<string> Llama2cTokenizerFiles(string directory, string? checkpointName = null)
    {
        string standard = Path.Combine(directory, "tokenizer.bin");
        if (System.IO.File.Exists(standard)) return [standard];
        return Directory.GetFiles(directory, "tok*.bin").Where(f => Path.GetFileName(f) != checkpointName).Order(StringComparer.Ordinal).ToList();
    }

    private static string RequireSibling(string directory, string name, string path)
    {
        string sibling = Path.Combine(directory, name);
        return System.IO.File.Exists(sibling) ? sibling : throw new NeuronExplainerException($"{path}: {name} is missing next to it (needed for the merges)");
    }

    private static NeuronExplainerException TokenizerModelUnsupported(string path) => new(
        $"{path}: sentencepiece tokenizer.model files are not supported; use the model's tokenizer.json instead");
}
