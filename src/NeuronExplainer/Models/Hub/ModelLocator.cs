using System.Text.Json;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Models.Hub;

public enum ModelFormat { HuggingFace, Llama2c }

/// <summary>
/// A model's files on disk. <see cref="ModelPath"/> and <see cref="TokenizerPath"/> are what the checkpoint
/// loader and <see cref="Tokenizers.TokenizerLoader"/> take.
/// </summary>
/// <param name="Checkpoints">model.safetensors, the shards of model.safetensors.index.json, or the llama2.c .bin.</param>
/// <param name="Config">config.json (Hugging Face), or null for llama2.c (its header holds the config).</param>
/// <param name="TokenizerFiles">The tokenizer files found (tokenizer.json, vocab.json + merges.txt, ..., or tokenizer.bin).</param>
/// <param name="GivenTokenizer">The tokenizer the user named (<c>--tokenizer</c>), used instead of any found.</param>
public sealed record ModelLocation(ModelFormat Format, string Directory, IReadOnlyList<string> Checkpoints, string? Config, IReadOnlyList<string> TokenizerFiles,
    string? GivenTokenizer = null)
{
    public string ModelPath => Format == ModelFormat.HuggingFace ? Directory : Checkpoints[0];

    public string TokenizerPath => GivenTokenizer ?? (Format == ModelFormat.HuggingFace ? Directory : TokenizerFiles[0]);
}

/// <summary>
/// Turns a <c>--model</c> value into local files: an existing directory (Hugging Face layout, or a folder
/// with one llama2.c .bin and its tokenizer), an existing llama2.c .bin (tokenizer.bin or the only tok*.bin
/// beside it), an existing config.json / safetensors file (its directory), or a hub id, downloaded into
/// the <see cref="HubCache"/> on first use. A tokenizer the user names is used as given, so a model need not
/// have one beside it. A value that is clearly a path (a file extension, ./, ~, a backslash) is never tried
/// on the hub; when the hub fails for one that could be either, the error says first that no such path exists.
/// </summary>
public static class ModelLocator
{
    private const string ConfigFile = "config.json";
    private const string SafeTensors = "model.safetensors";
    private const string SafeTensorsIndex = "model.safetensors.index.json";

    /// <summary>Tokenizer files fetched and reported when present, in the order the tokenizer loader prefers them.</summary>
    private static readonly string[] HfTokenizerFiles = ["tokenizer.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe"];

    /// <summary>Small files that come along with a Hugging Face model when the hub has them.</summary>
    private static readonly string[] HfExtraFiles = ["tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];

    public static ModelLocation Locate(string model, HubOptions? options = null, IProgress<HubDownloadProgress>? progress = null, string? tokenizer = null) =>
        LocateAsync(model, options, progress, tokenizer).GetAwaiter().GetResult();

    public static async Task<ModelLocation> LocateAsync(string model, HubOptions? options = null, IProgress<HubDownloadProgress>? progress = null,
        string? tokenizer = null, CancellationToken cancel = default)
    {
        if (Directory.Exists(model)) return FromDirectory(model, tokenizer);
        if (File.Exists(model)) return FromFile(model, tokenizer);
        string missing = $"model '{model}': no such file or directory ({Path.GetFullPath(model)} does not exist)";
        if (LooksLikePath(model)) throw new NeuronExplainerException(missing);
        if (!HubModelId.TryParse(model, out var id))
            throw new NeuronExplainerException($"{missing}, and it is not a hub id (name, org/name or org/name/folder, optionally @revision)");

        options ??= HubOptions.FromEnvironment();
        string local = id.Folder.Length > 0 ? HubCache.LocalPath(options, id.Repo, id.Folder) : HubCache.SnapshotDirectory(options, id.Repo);
        if (!File.Exists(Path.Combine(local, HubCache.CompleteMarker)))
        {
            using var client = new HubClient(options, progress);
            try { await DownloadModelAsync(client, id, local, cancel); }
            catch (NeuronExplainerException e) { throw new NeuronExplainerException($"{missing}; as a hub id: {e.Message}", e); }
        }
        return FromDirectory(local, tokenizer);
    }

    /// <summary>Values no hub id looks like: a model file's extension, a relative or home prefix, a Windows separator.</summary>
    internal static bool LooksLikePath(string value) =>
        value.StartsWith('.') || value.StartsWith('~') || value.Contains('\\') || Path.IsPathRooted(value)
        || new[] { ".bin", ".safetensors", ".json", ".gguf", ".pt", ".pth" }.Any(e => value.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>Lists the repository folder, picks the files a model needs, downloads the missing ones and marks the folder complete.</summary>
    private static async Task DownloadModelAsync(HubClient client, HubModelId id, string local, CancellationToken cancel)
    {
        var listed = await client.ListFilesAsync(id.Repo, id.Folder, recursive: false, cancel);
        var byName = listed.ToDictionary(f => f.Path[(id.Folder.Length > 0 ? id.Folder.Length + 1 : 0)..], StringComparer.Ordinal);
        string Names() => string.Join(", ", byName.Keys.Order(StringComparer.Ordinal));

        var wanted = new List<HubFile>();
        if (byName.TryGetValue(ConfigFile, out var config))
        {
            wanted.Add(config);
            if (byName.TryGetValue(SafeTensors, out var single)) wanted.Add(single);
            else if (byName.TryGetValue(SafeTensorsIndex, out var index))
            {
                string indexPath = (await client.DownloadAsync(id.Repo, [index], cancel))[0];
                foreach (var shard in ShardNames(indexPath))
                    wanted.Add(byName.TryGetValue(shard, out var file) ? file
                        : throw new NeuronExplainerException($"{id}: {SafeTensorsIndex} names shard '{shard}', which the hub does not list"));
            }
            else throw new NeuronExplainerException(
                $"{id}: no {SafeTensors} or {SafeTensorsIndex}; only safetensors checkpoints are supported (the repository has: {Names()})");

            var tokenizerFiles = HfTokenizerFiles.Where(byName.ContainsKey).ToList();
            if (!tokenizerFiles.Contains("tokenizer.json") && !(tokenizerFiles.Contains("vocab.json") && tokenizerFiles.Contains("merges.txt")))
                throw new NeuronExplainerException(byName.ContainsKey("tokenizer.model")
                    ? $"{id}: the only tokenizer is tokenizer.model (sentencepiece), which is not supported; a tokenizer.json is needed"
                    : $"{id}: no tokenizer.json or vocab.json + merges.txt (the repository has: {Names()})");
            wanted.AddRange(tokenizerFiles.Concat(HfExtraFiles.Where(byName.ContainsKey)).Select(name => byName[name]));
        }
        else
        {
            var bins = byName.Keys.Where(n => n.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)).ToList();
            var tokenizers = bins.Where(IsLlama2cTokenizerName).ToList();
            var checkpoints = bins.Except(tokenizers).ToList();
            if (checkpoints.Count != 1 || tokenizers.Count == 0)
                throw new NeuronExplainerException(
                    $"{id}: expected config.json (Hugging Face layout) or one llama2.c .bin with its tok*.bin; the folder has: {Names()}");
            wanted.AddRange(checkpoints.Concat(tokenizers).Select(name => byName[name]));
        }

        await client.DownloadAsync(id.Repo, wanted, cancel);
        File.WriteAllLines(Path.Combine(local, HubCache.CompleteMarker), wanted.Select(f => f.Path));
    }

    private static bool IsLlama2cTokenizerName(string name) =>
        name.StartsWith("tok", StringComparison.OrdinalIgnoreCase) && name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase);

    /// <summary>The distinct shard files of a safetensors index, in order of first appearance.</summary>
    private static List<string> ShardNames(string indexPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new NeuronExplainerException($"{indexPath}: no \"weight_map\" object");
            var shards = new List<string>();
            foreach (var entry in map.EnumerateObject())
            {
                string shard = entry.Value.GetString() ?? throw new NeuronExplainerException($"{indexPath}: weight_map[\"{entry.Name}\"] is not a file name");
                if (shard.Contains('/') || shard.Contains('\\') || shard is "." or "..")
                    throw new NeuronExplainerException($"{indexPath}: shard '{shard}' is not a plain file name");
                if (!shards.Contains(shard)) shards.Add(shard);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw new NeuronExplainerException($"{indexPath}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>A local model directory: Hugging Face layout (config.json), or one llama2.c .bin with its tokenizer.</summary>
    public static ModelLocation FromDirectory(string directory, string? tokenizer = null)
    {
        string Path(string name) => System.IO.Path.Combine(directory, name);
        if (File.Exists(Path(ConfigFile)))
        {
            List<string> checkpoints;
            if (File.Exists(Path(SafeTensors))) checkpoints = [Path(SafeTensors)];
            else if (File.Exists(Path(SafeTensorsIndex)))
            {
                checkpoints = ShardNames(Path(SafeTensorsIndex)).Select(Path).ToList();
                if (checkpoints.FirstOrDefault(shard => !File.Exists(shard)) is { } missing)
                    throw new NeuronExplainerException($"{directory}: shard {System.IO.Path.GetFileName(missing)} named in {SafeTensorsIndex} is missing");
            }
            else throw new NeuronExplainerException($"{directory}: has config.json but no {SafeTensors} or {SafeTensorsIndex}");
            var found = HfTokenizerFiles.Select(Path).Where(File.Exists).ToList();
            if (found.Count == 0 && tokenizer is null)
                throw new NeuronExplainerException($"{directory}: no tokenizer; expected tokenizer.json, vocab.json + merges.txt, or encoder.json + vocab.bpe (or name one as ModelLocation.GivenTokenizer)");
            return new ModelLocation(ModelFormat.HuggingFace, directory, checkpoints, Path(ConfigFile), found, tokenizer);
        }

        var bins = Directory.GetFiles(directory, "*.bin").Where(f => !IsLlama2cTokenizerName(System.IO.Path.GetFileName(f))).Order(StringComparer.Ordinal).ToList();
        if (bins.Count == 1) return FromFile(bins[0], tokenizer);
        throw new NeuronExplainerException(bins.Count == 0
            ? $"{directory}: not a model directory; expected config.json with model.safetensors, or a llama2.c .bin"
            : $"{directory}: several llama2.c checkpoints ({string.Join(", ", bins.Select(System.IO.Path.GetFileName))}); name the .bin file");
    }

    /// <summary>A local file: a llama2.c .bin (with its tokenizer beside it) or a file of a Hugging Face model directory.</summary>
    public static ModelLocation FromFile(string path, string? tokenizer = null)
    {
        string name = Path.GetFileName(path);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (name == ConfigFile || name == SafeTensorsIndex || name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return FromDirectory(directory, tokenizer);
        if (!name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
            throw new NeuronExplainerException($"{path}: not a model; expected a Hugging Face model directory or a llama2.c .bin checkpoint");

        var candidates = TokenizerLoader.Llama2cTokenizerFiles(directory, name);
        if (tokenizer is null && candidates.Count != 1)
            throw new NeuronExplainerException(candidates.Count == 0
                ? $"{directory}: no tokenizer for {name}; expected tokenizer.bin or a tok*.bin beside it, or name one as ModelLocation.GivenTokenizer"
                : $"{directory}: several tokenizers for {name} ({string.Join(", ", candidates.Select(Path.GetFileName))}); keep one, name it tokenizer.bin, or name one as ModelLocation.GivenTokenizer");
        return new ModelLocation(ModelFormat.Llama2c, directory, [Path.GetFullPath(path)], null, candidates, tokenizer);
    }
}
