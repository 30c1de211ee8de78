using NeuronExplainer.Models.Sae;

namespace NeuronExplainer.Models.Hub;

/// <summary>
/// Turns a <c>--sae</c> value into a local SAE folder: an existing folder (or its cfg.json or weights file), or a hub
/// id naming a repository and the SAE's folder in it (<c>jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre</c>,
/// <c>EleutherAI/sae-llama-3-8b-32x/layers.8</c>, optionally <c>@revision</c>), whose cfg.json and weights are
/// downloaded into the <see cref="HubCache"/> on first use, as models are; a cached SAE works offline.
/// </summary>
public static class SaeLocator
{
    public static string Locate(string sae, HubOptions? options = null, IProgress<HubDownloadProgress>? progress = null) =>
        LocateAsync(sae, options, progress).GetAwaiter().GetResult();

    public static async Task<string> LocateAsync(string sae, HubOptions? options = null, IProgress<HubDownloadProgress>? progress = null, CancellationToken cancel = default)
    {
        if (Directory.Exists(sae)) return sae;
        if (File.Exists(sae)) return Path.GetDirectoryName(Path.GetFullPath(sae))!;
        string missing = $"SAE '{sae}': no such file or directory ({Path.GetFullPath(sae)} does not exist)";
        if (ModelLocator.LooksLikePath(sae)) throw new NeuronExplainerException(missing);
        if (!HubModelId.TryParse(sae, out var id))
            throw new NeuronExplainerException($"{missing}, and it is not a hub id (org/name/folder, optionally @revision)");

        options ??= HubOptions.FromEnvironment();
        string local = id.Folder.Length > 0 ? HubCache.LocalPath(options, id.Repo, id.Folder) : HubCache.SnapshotDirectory(options, id.Repo);
        if (File.Exists(Path.Combine(local, HubCache.CompleteMarker))) return local;
        using var client = new HubClient(options, progress);
        try
        {
            var listed = await client.ListFilesAsync(id.Repo, id.Folder, recursive: false, cancel);
            string prefix = id.Folder.Length > 0 ? id.Folder + "/" : "";
            var byName = listed.Where(f => f.Path.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(f => f.Path[prefix.Length..], StringComparer.Ordinal);
            if (!byName.TryGetValue(SaeLoader.ConfigFile, out var config))
                throw new NeuronExplainerException($"{id}: no {SaeLoader.ConfigFile}; expected an SAE folder (the folder has: {string.Join(", ", byName.Keys.Order(StringComparer.Ordinal))})");
            var weights = byName.GetValueOrDefault(SaeLoader.SaeLensWeights) ?? byName.GetValueOrDefault(SaeLoader.SparsifyWeights)
                ?? throw new NeuronExplainerException($"{id}: no {SaeLoader.SaeLensWeights} (SAELens) or {SaeLoader.SparsifyWeights} (sparsify) beside {SaeLoader.ConfigFile}");
            await client.DownloadAsync(id.Repo, [config, weights], cancel);
            File.WriteAllLines(Path.Combine(local, HubCache.CompleteMarker), [config.Path, weights.Path]);
            return local;
        }
        catch (NeuronExplainerException e)
        {
            throw new NeuronExplainerException($"{missing}; as a hub id: {e.Message}", e);
        }
    }
}
