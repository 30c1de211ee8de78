using System.Text.Json;

namespace NeuronExplainer.Models.Checkpoints;

/// <summary>
/// The safetensors weights of a Hugging Face model directory: <c>model.safetensors</c>, or the shards listed
/// by <c>model.safetensors.index.json</c>'s weight_map. Reads tensors by name and checks their shapes.
/// </summary>
public sealed class SafeTensorsCheckpoint : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _byTensor;

    private SafeTensorsCheckpoint(List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    public static SafeTensorsCheckpoint Open(string directory)
    {
        var single = Path.Combine(directory, SingleFile);
        var index = Path.Combine(directory, IndexFile);
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            return new SafeTensorsCheckpoint([file], file.Tensors.Keys.ToDictionary(name => name, _ => file));
        }
        if (!File.Exists(index))
            throw new NeuronExplainerException($"{directory}: no {SingleFile} or {IndexFile} (only safetensors checkpoints are supported)");

        var shardOf = ReadWeightMap(index);
        var files = new List<SafeTensorsFile>();
        try
        {
            var shards = new Dictionary<string, SafeTensorsFile>();
            foreach (var shard in shardOf.Values.Distinct())
            {
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new NeuronExplainerException($"{index}: shard name '{shard}' must be a file name in the model directory");
                var file = SafeTensorsFile.Open(Path.Combine(directory, shard));
                files.Add(file);
                shards[shard] = file;
            }
            var byTensor = new Dictionary<string, SafeTensorsFile>();
            foreach (var (tensor, shard) in shardOf)
            {
                var file = shards[shard];
                if (!file.Tensors.ContainsKey(tensor))
                    throw new NeuronExplainerException($"{index}: weight_map puts tensor '{tensor}' in {shard}, but {file.Path} has no such tensor");
                byTensor[tensor] = file;
            }
            return new SafeTensorsCheckpoint(files, byTensor);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string index)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(index));
            return document.RootElement.GetProperty("weight_map").EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.GetString() ?? throw new FormatException($"shard of '{p.Name}' is null"));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new NeuronExplainerException($"{index}: expected a JSON object with a \"weight_map\" of tensor name -> shard file ({e.Message})");
        }
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>Reads a tensor as fp32 after checking its shape against what the config implies.</summary>
    public float[] Read(string name, params long[] expectedShape) => Find(name, expectedShape).File.ReadFloat32(name);

    /// <summary>
    /// Reads a weight matrix held as <paramref name="dtype"/>: a BF16 tensor read as bf16 keeps its bits; any other is
    /// read as fp32 and, for bf16, rounded to nearest even.
    /// </summary>
    public WeightMatrix ReadMatrix(string name, WeightDType dtype, params long[] expectedShape)
    {
        var (file, info) = Find(name, expectedShape);
        return dtype == WeightDType.BFloat16 && info.DType == "BF16"
            ? WeightMatrix.OfBits(file.ReadBFloat16Bits(name))
            : WeightMatrix.Of(file.ReadFloat32(name), dtype);
    }

    private (SafeTensorsFile File, SafeTensorInfo Info) Find(string name, long[] expectedShape)
    {
        if (!_byTensor.TryGetValue(name, out var file))
            throw new NeuronExplainerException($"{string.Join(", ", _files.Select(f => f.Path))}: tensor '{name}' is missing");
        var info = file.Tensors[name];
        if (!info.Shape.SequenceEqual(expectedShape))
            throw new NeuronExplainerException($"{file.Path}: tensor '{name}' has shape {info.ShapeText}; config.json implies [{string.Join(", ", expectedShape)}]");
        return (file, info);
    }

    /// <summary>Reads a tensor when the checkpoint has it (optional biases), else null.</summary>
    public float[]? ReadOptional(string name, params long[] expectedShape) => Contains(name) ? Read(name, expectedShape) : null;

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }
}
