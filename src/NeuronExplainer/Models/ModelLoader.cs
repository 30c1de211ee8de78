using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Models;

/// <summary>Loads a checkpoint from a local path into a runnable <see cref="Transformer"/>.</summary>
public static class ModelLoader
{
    /// <summary>
    /// Weights from a Hugging Face model directory (or its <c>model.safetensors</c>/<c>config.json</c> file)
    /// or a llama2.c <c>.bin</c> file.
    /// </summary>
    public static TransformerWeights LoadWeights(string path)
    {
        RequireExists(path);
        if (Directory.Exists(path)) return HfCheckpointLoader.Load(path);
        var name = Path.GetFileName(path);
        if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || name == HfCheckpointLoader.ConfigFile || name == SafeTensorsCheckpoint.IndexFile)
            return HfCheckpointLoader.Load(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cCheckpointLoader.Load(path);
        throw new NeuronExplainerException($"{path}: not a model; expected a Hugging Face model directory or a llama2.c .bin checkpoint");
    }

    public static Transformer Load(string path, ITokenizer tokenizer, IGemm? gemm = null)
    {
        var weights = LoadWeights(path);
        if (tokenizer.VocabSize > weights.Config.VocabSize)
            throw new NeuronExplainerException($"{path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary is {weights.Config.VocabSize}; wrong tokenizer?");
        return new Transformer(Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), weights, tokenizer, gemm);
    }

    /// <summary>Loads the model and its tokenizer: <paramref name="tokenizerPath"/> when given, else the one beside the checkpoint.</summary>
    public static Transformer Load(string path, string? tokenizerPath, IGemm? gemm = null)
    {
        RequireExists(path);
        return Load(path, TokenizerLoader.Load(tokenizerPath ?? FindTokenizer(path)), gemm);
    }

    private static void RequireExists(string path)
    {
        if (!Directory.Exists(path) && !File.Exists(path)) throw new NeuronExplainerException($"{path}: no such model file or directory");
    }

    /// <summary>
    /// Where a model's tokenizer lives: the model directory itself (Hugging Face), or for a llama2.c
    /// <c>.bin</c> its sibling <c>tokenizer.bin</c>, else the only <c>tok*.bin</c> beside it (e.g. tok512.bin).
    /// </summary>
    public static string FindTokenizer(string modelPath)
    {
        if (Directory.Exists(modelPath)) return modelPath;
        var directory = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        if (!modelPath.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return directory;
        var standard = Path.Combine(directory, "tokenizer.bin");
        if (File.Exists(standard)) return standard;
        var candidates = Directory.GetFiles(directory, "tok*.bin")
            .Where(f => !Path.GetFullPath(f).Equals(Path.GetFullPath(modelPath), StringComparison.Ordinal)).ToList();
        return candidates.Count == 1
            ? candidates[0]
            : throw new NeuronExplainerException($"{directory}: no tokenizer for {Path.GetFileName(modelPath)}; expected tokenizer.bin or a single tok*.bin beside it (or pass --tokenizer)");
    }
}
