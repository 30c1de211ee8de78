using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Models;

/// <summary>Loads a checkpoint from a local path into a runnable <see cref="Transformer"/>.</summary>
public static class ModelLoader
{
    /// <summary>
    /// Weights from a Hugging Face model directory (or its <c>model.safetensors</c>/<c>config.json</c> file)
    /// or a llama2.c <c>.bin</c> file, the weight matrices held as <paramref name="dtype"/>.
    /// </summary>
    public static TransformerWeights LoadWeights(string path, WeightDType dtype = WeightDType.Float32)
    {
        if (!Directory.Exists(path) && !File.Exists(path)) throw new NeuronExplainerException($"{path}: no such model file or directory");
        if (Directory.Exists(path)) return HfCheckpointLoader.Load(path, dtype);
        var name = Path.GetFileName(path);
        if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || name == HfCheckpointLoader.ConfigFile || name == SafeTensorsCheckpoint.IndexFile)
            return HfCheckpointLoader.Load(Path.GetDirectoryName(Path.GetFullPath(path))!, dtype);
        if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cCheckpointLoader.Load(path, dtype);
        throw new NeuronExplainerException($"{path}: not a model; expected a Hugging Face model directory or a llama2.c .bin checkpoint");
    }

    public static Transformer Load(string path, ITokenizer tokenizer, IGemm? gemm = null, WeightDType dtype = WeightDType.Float32)
    {
        var weights = LoadWeights(path, dtype);
        CheckVocabulary(path, tokenizer, weights.Config);
        return new Transformer(Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), weights, tokenizer, gemm);
    }

    /// <summary>
    /// Loads a model found by <see cref="ModelLocator"/> (local path or hub id) under the name the user gave it,
    /// with the location's tokenizer (the one the user named, else the model's own).
    /// </summary>
    public static Transformer Load(ModelLocation location, string name, IGemm? gemm = null, WeightDType dtype = WeightDType.Float32)
    {
        var weights = LoadWeights(location.ModelPath, dtype);
        var tokenizer = TokenizerLoader.Load(location.TokenizerPath);
        CheckVocabulary(location.ModelPath, tokenizer, weights.Config);
        return new Transformer(name, weights, tokenizer, gemm);
    }

    private static void CheckVocabulary(string path, ITokenizer tokenizer, TransformerConfig config)
    {
        if (tokenizer.VocabSize > config.VocabSize)
            throw new NeuronExplainerException($"{path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary is {config.VocabSize}; wrong tokenizer?");
    }
}
