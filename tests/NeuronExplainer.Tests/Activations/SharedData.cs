namespace NeuronExplainer.Tests.Activations;

/// <summary>Locates the read-only ../shared folder next to the repository, when there is one.</summary>
static class SharedData
{
    public static string? Find(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "shared"), Path.Combine(dir.FullName, "..", "shared") })
                if (Directory.Exists(Path.Combine(candidate, "models")) && Path.Combine(candidate, relative) is var path && (File.Exists(path) || Directory.Exists(path)))
                    return Path.GetFullPath(path);
        }
        return null;
    }
}
