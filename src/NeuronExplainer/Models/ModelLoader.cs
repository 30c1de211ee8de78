using NeuronExplainer.Models.Checkpoints;
using NeuronExplainer.Models.Kernels;

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
        if (Directory.Exists(path)) return HfCheckpointLoader.Load(path);
        if (!File.Exists(path)) throw new NeuronExplainerException($"{path}: no such model file or directory");
        var name = Path.GetFileName(path);
        if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || name == HfCheckpointLoader.ConfigFile || name == SafeTensorsCheckpoint.IndexFile)
            return HfCheckpointLoader.Load(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cCheckpointLoader.Load(path);
        throw new NeuronExplainerException($"{path}: not a model; expected a Hugging Face model directory or a llama2.c .bin checkpoint");
    }

    public static Transformer Load(string path, ITokenizer tokenizer, IGemm? gemm = null) =>
        new(Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), LoadWeights(path), tokenizer, gemm);
}
