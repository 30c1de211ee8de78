namespace NeuronExplainer.Models.Hub;

public enum HubRepoKind { Model, Dataset }

/// <summary>A hub repository at a revision (branch, tag or commit), e.g. model <c>openai-community/gpt2</c> at <c>main</c>.</summary>
public sealed record HubRepo(HubRepoKind Kind, string Id, string Revision = "main")
{
    private string KindPlural => Kind == HubRepoKind.Model ? "models" : "datasets";

    /// <summary>Download URL of a file: <c>{endpoint}/{id}/resolve/{revision}/{file}</c> (datasets under <c>/datasets</c>).</summary>
    public string ResolveUrl(string endpoint, string file) =>
        $"{endpoint}{(Kind == HubRepoKind.Dataset ? "/datasets" : "")}/{Id}/resolve/{Uri.EscapeDataString(Revision)}/{EscapePath(file)}";

    /// <summary>Listing URL of a folder through the hub's tree API.</summary>
    public string TreeUrl(string endpoint, string folder, bool recursive) =>
        $"{endpoint}/api/{KindPlural}/{Id}/tree/{Uri.EscapeDataString(Revision)}{(folder.Length > 0 ? "/" + EscapePath(folder) : "")}"
        + (recursive ? "?recursive=true" : "");

    /// <summary>The repository's folder name in the cache, as the hub's own cache names it (models--org--name).</summary>
    public string CacheFolderName => $"{KindPlural}--{Id.Replace("/", "--")}";

    public override string ToString() => $"{(Kind == HubRepoKind.Dataset ? "dataset " : "")}{Id}@{Revision}";

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
}

/// <summary>A file listed by the hub: its path in the repository, size, and content hash when the hub gives one.</summary>
public sealed record HubFile(string Path, long? Size, string? Sha256, string? GitSha1);
