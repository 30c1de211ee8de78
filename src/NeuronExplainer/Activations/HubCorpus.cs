using System.Text.RegularExpressions;
using NeuronExplainer.Models.Hub;

namespace NeuronExplainer.Activations;

/// <summary>
/// A corpus named by a Hugging Face dataset id, <c>ORG/NAME[@REVISION][:GLOB]</c>, downloaded into the hub cache on
/// first use like models. Without a glob every file the corpus reader can read (text or JSONL, optionally .gz, and
/// parquet, the hub's usual format) is taken; other formats are never downloaded.
/// </summary>
public static partial class HubCorpus
{
    [GeneratedRegex(@"^(?<id>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?<revision>[\w./-]+?))?(?::(?<glob>.+))?$")]
    private static partial Regex DatasetId();

    /// <summary>True when <paramref name="corpus"/> is no local file or directory but has the form of a dataset id.</summary>
    public static bool IsDatasetId(string corpus) => !File.Exists(corpus) && !Directory.Exists(corpus) && DatasetId().IsMatch(corpus);

    /// <summary>Downloads (or finds in the cache) the dataset's corpus files and returns the options that read them.</summary>
    public static async Task<CorpusOptions> ResolveAsync(CorpusOptions options, HubClient client, CancellationToken cancel = default)
    {
        var match = DatasetId().Match(options.Path);
        if (!match.Success)
            throw new NeuronExplainerException($"corpus '{options.Path}' is not a Hugging Face dataset id; expected ORG/NAME[@REVISION][:GLOB]");
        string revision = match.Groups["revision"].Success ? match.Groups["revision"].Value : "main";
        string glob = match.Groups["glob"].Success ? match.Groups["glob"].Value : "**";
        var files = await HubDatasets.DownloadFilesAsync(client, match.Groups["id"].Value, glob, revision, cancel, CorpusReader.IsCorpusFile);
        return options with { Files = files };
    }
}
