namespace NeuronExplainer.Tests;

/// <summary>
/// The read-only shared data folder (models, corpora) beside the repository, found by walking up from the test
/// assembly. CI always has it, so a test that needs it fails loudly where it is missing instead of passing unrun.
/// </summary>
internal static class SharedData
{
    public static string Path(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared"), dir.FullName })
            {
                if (!Directory.Exists(System.IO.Path.Combine(candidate, "models")) || !Directory.Exists(System.IO.Path.Combine(candidate, "corpora"))) continue;
                string path = System.IO.Path.GetFullPath(System.IO.Path.Combine([candidate, .. parts]));
                return File.Exists(path) || Directory.Exists(path) ? path
                    : throw new FileNotFoundException($"{path} is missing from the shared data folder", path);
            }
        }
        throw new InvalidOperationException($"the shared data folder (with models/ and corpora/) was not found above {AppContext.BaseDirectory}");
    }
}
