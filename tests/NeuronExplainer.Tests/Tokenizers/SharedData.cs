namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>Finds the read-only shared data folder (models, corpora) next to the repository.</summary>
internal static class SharedData
{
    public static string Path(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared"), dir.FullName })
                if (Directory.Exists(System.IO.Path.Combine(candidate, "models")) && Directory.Exists(System.IO.Path.Combine(candidate, "corpora")))
                    return System.IO.Path.Combine([candidate, .. parts]);
        }
        throw new InvalidOperationException($"the shared data folder (with models/ and corpora/) was not found above {AppContext.BaseDirectory}");
    }

    public static string Fixture(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "Tokenizers", name);
}
