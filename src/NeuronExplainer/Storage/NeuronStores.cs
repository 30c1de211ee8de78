namespace NeuronExplainer.Storage;

/// <summary>
/// Opens the store a location string names: a run directory or its <c>store.db</c> (SQLite, the default); a
/// <c>postgresql://</c> URL is recognised and refused until that store exists. The only place that picks a backend.
/// </summary>
public static class NeuronStores
{
    /// <summary>Opens the store at <paramref name="location"/>, creating an empty one if there is none.</summary>
    public static INeuronStore Open(string location) => SqliteNeuronStore.Open(SqliteDirectory(location));

    /// <summary>Opens the store at <paramref name="location"/>, which must already hold one (readers: export, the viewer).</summary>
    public static INeuronStore OpenExisting(string location) => SqliteNeuronStore.OpenExisting(SqliteDirectory(location));

    /// <summary>Removes the store at <paramref name="location"/> and everything in it (collect --force); the caller has closed it.</summary>
    public static void Discard(string location)
    {
        string directory = SqliteDirectory(location);
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(Path.Combine(directory, SqliteNeuronStore.FileName + suffix));
    }

    static string SqliteDirectory(string location)
    {
        if (location.Length == 0) throw new NeuronExplainerException("store location is empty; expected a run directory such as runs/x");
        if (location.Contains("://", StringComparison.Ordinal))
        {
            // The user name and password of a URL never reach an error message.
            string shown = Uri.TryCreate(location, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 ? location.Replace(uri.UserInfo + "@", "", StringComparison.Ordinal) : location;
            throw uri?.Scheme is "postgresql" or "postgres"
                ? new NeuronExplainerException($"store '{shown}': PostgreSQL stores are not supported yet; give a run directory (SQLite) such as runs/x")
                : new NeuronExplainerException($"store '{shown}' is not a store location; expected a run directory (or its {SqliteNeuronStore.FileName}) or a postgresql:// URL");
        }
        if (Path.GetFileName(Path.TrimEndingDirectorySeparator(location)) == SqliteNeuronStore.FileName)
            return Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(location)) is { Length: > 0 } directory ? directory : ".";
        return location;
    }
}
