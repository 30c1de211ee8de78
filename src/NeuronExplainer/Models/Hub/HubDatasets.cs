using System.Text;
using System.Text.RegularExpressions;

namespace NeuronExplainer.Models.Hub;

/// <summary>Data files of hub datasets (<c>{endpoint}/datasets/{id}/resolve/{revision}/{file}</c>), for corpus collection.</summary>
public static class HubDatasets
{
    /// <summary>
    /// Downloads the files of dataset <paramref name="datasetId"/> whose repository path matches
    /// <paramref name="pattern"/> (<c>*</c> within a folder, <c>**</c> across folders, <c>?</c> one character;
    /// e.g. <c>data/train-*.parquet</c>, <c>**/*.txt</c>) and, when given, <paramref name="accept"/> (e.g. only
    /// formats the caller can read), and returns their local paths, sorted by path.
    /// </summary>
    public static async Task<IReadOnlyList<string>> DownloadFilesAsync(HubClient client, string datasetId, string pattern,
        string revision = "main", CancellationToken cancel = default, Func<string, bool>? accept = null)
    {
        var repo = new HubRepo(HubRepoKind.Dataset, datasetId, revision);
        var regex = GlobToRegex(pattern);
        bool Wanted(string path) => regex.IsMatch(path) && (accept?.Invoke(path) ?? true);
        // With HF_HUB_OFFLINE, files cached earlier are enough.
        if (client.Options.Offline)
        {
            string root = HubCache.SnapshotDirectory(client.Options, repo);
            var cached = Directory.Exists(root)
                ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                    .Where(f => !f.EndsWith(".incomplete", StringComparison.Ordinal))
                    .Where(f => Wanted(Path.GetRelativePath(root, f).Replace('\\', '/'))).Order(StringComparer.Ordinal).ToList()
                : [];
            return cached.Count > 0 ? cached
                : throw new NeuronExplainerException($"HF_HUB_OFFLINE is set and no file of {repo} matching '{pattern}' is in the cache at {root}");
        }

        var listed = await client.ListFilesAsync(repo, "", recursive: true, cancel);
        var matching = listed.Where(f => Wanted(f.Path)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        if (matching.Count == 0)
            throw new NeuronExplainerException(
                $"{repo}: no file matches '{pattern}' (it has {listed.Count} files, e.g. {string.Join(", ", listed.Take(5).Select(f => f.Path))})");
        return await client.DownloadAsync(repo, matching, cancel);
    }

    internal static Regex GlobToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                // "**/" also matches no folder at all.
                bool slash = i + 2 < pattern.Length && pattern[i + 2] == '/';
                regex.Append(slash ? "(?:.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else if (c == '*') regex.Append("[^/]*");
            else if (c == '?') regex.Append("[^/]");
            else regex.Append(Regex.Escape(c.ToString()));
        }
        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
