namespace NeuronExplainer.Models.Hub;

/// <summary>
/// The download cache. Layout, under <see cref="HubOptions.CacheDirectory"/>:
/// <code>
/// models--{org}--{name}/snapshots/{revision}/{path in repo}          finished files
/// models--{org}--{name}/snapshots/{revision}/{path}.incomplete       a partial download, resumed with a Range request
/// models--{org}--{name}/snapshots/{revision}/{folder}/.complete      every file of the model is there (lists them)
/// datasets--{org}--{name}/snapshots/{revision}/...                   the same for datasets
/// </code>
/// The revision folder is named by the revision asked for (usually <c>main</c>), not a commit hash, and
/// holds plain files rather than the hub library's blob links: a finished file is reused as it is; delete
/// the folder to fetch a newer revision.
/// </summary>
public static class HubCache
{
    public const string CompleteMarker = ".complete";

    public static string SnapshotDirectory(HubOptions options, HubRepo repo) =>
        Path.Combine(options.CacheDirectory, repo.CacheFolderName, "snapshots", SafeSegment(Uri.EscapeDataString(repo.Revision)));

    public static string LocalPath(HubOptions options, HubRepo repo, string file) =>
        Path.Combine([SnapshotDirectory(options, repo), .. file.Split('/').Select(SafeSegment)]);

    /// <summary>Path segments from the server must not climb out of the cache (".." or rooted names).</summary>
    private static string SafeSegment(string segment) =>
        segment is "" or "." or ".." || segment.IndexOfAny(['/', '\\', '\0']) >= 0
            ? throw new NeuronExplainerException($"hub path segment '{segment}' is not a safe file name")
            : segment;
}
