namespace NeuronExplainer.Storage;

/// <summary>How a command uses a store: a reader never writes, so it can read a store it may not write.</summary>
public enum StoreAccess { ReadWrite, ReadOnly }

/// <summary>
/// Opens the store a location string names: a run directory or its <c>store.db</c> (SQLite, the default); a
/// <c>postgresql://</c> URL is recognised and refused until that store exists. The only place that picks a backend.
/// </summary>
public static class NeuronStores
{
    /// <summary>Opens the store at <paramref name="location"/>, creating an empty one if there is none.</summary>
    public static INeuronStore Open(string location) =>
        PostgresLocation.IsUrl(location) ? PostgresNeuronStore.Open(location) : SqliteNeuronStore.Open(SqliteDirectory(location));

    /// <summary>
    /// Opens the store at <paramref name="location"/>, which must already hold one. Commands that only read
    /// (show, export, ledger, the viewer) ask for <see cref="StoreAccess.ReadOnly"/>, which works without write permission.
    /// </summary>
    public static INeuronStore OpenExisting(string location, StoreAccess access = StoreAccess.ReadWrite) =>
        PostgresLocation.IsUrl(location) ? PostgresNeuronStore.OpenExisting(location, access) : SqliteNeuronStore.OpenExisting(SqliteDirectory(location), access);

    /// <summary>Removes the store at <paramref name="location"/> and everything in it (collect --force); the caller has closed it.</summary>
    public static void Discard(string location)
    {
        if (PostgresLocation.IsUrl(location))
        {
            PostgresNeuronStore.Discard(location);
            return;
        }
        string directory = SqliteDirectory(location);
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(Path.Combine(directory, SqliteNeuronStore.FileName + suffix));
    }

    static string SqliteDirectory(string location)
    {
        if (location.Length == 0) throw new NeuronExplainerException("store location is empty; expected a run directory such as runs/x");
        if (location.Contains("://", StringComparison.Ordinal))
        {
            // The user name and password of a URL never reach an error message.
            throw new NeuronExplainerException(
                $"store '{PostgresLocation.Redacted(location)}' is not a store location; expected a run directory (or its {SqliteNeuronStore.FileName}) or a postgresql:// URL");
        }
        if (Path.GetFileName(Path.TrimEndingDirectorySeparator(location)) == SqliteNeuronStore.FileName)
            return Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(location)) is { Length: > 0 } directory ? directory : ".";
        return location;
    }
}
