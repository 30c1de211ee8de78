using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace NeuronExplainer.Storage;

/// <summary>Where a PostgreSQL store is: a <c>postgresql://user@host:port/database?schema=NAME</c> URL, without its password.</summary>
sealed partial record PostgresLocation(string Host, int Port, string Database, string? User, string Schema)
{
    public const string DefaultSchema = "public";

    /// <summary>The location as messages show it: the URL as given, never with a password (one is refused).</summary>
    public string Shown => $"postgresql://{(User is null ? "" : User + "@")}{Host}:{Port}/{Database}{(Schema == DefaultSchema ? "" : "?schema=" + Schema)}";

    public static bool IsUrl(string location) =>
        location.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    public static PostgresLocation Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !IsUrl(url) || uri.Host.Length == 0)
            throw new NeuronExplainerException($"store '{Redacted(url)}' is not a PostgreSQL URL; expected postgresql://user@host:port/database?schema=NAME");
        string? user = null;
        if (uri.UserInfo.Length > 0)
        {
            if (uri.UserInfo.Contains(':', StringComparison.Ordinal))
                throw new NeuronExplainerException(
                    $"store '{Redacted(url)}': the URL holds a password, which would be stored and shown with the location; give it in PGPASSWORD or ~/.pgpass instead");
            user = Uri.UnescapeDataString(uri.UserInfo);
        }
        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
            throw new NeuronExplainerException($"store '{Redacted(url)}' names no database; expected postgresql://user@host:port/database");
        string schema = DefaultSchema;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = pair.Split('=', 2) is [var k, var v] ? (k, Uri.UnescapeDataString(v)) : (pair, "");
            if (key != "schema")
                throw new NeuronExplainerException($"store '{Redacted(url)}': unknown URL parameter '{key}'; the only one accepted is schema=NAME");
            if (!SchemaName().IsMatch(value))
                throw new NeuronExplainerException($"store '{Redacted(url)}': schema '{value}' is not accepted; expected lower-case letters, digits and _ (at most 63, not starting with a digit)");
            schema = value;
        }
        return new PostgresLocation(uri.Host, uri.Port > 0 ? uri.Port : 5432, database, user, schema);
    }

    /// <summary>The URL with whatever user information it has left out, for a message about a URL that could not be read.</summary>
    public static string Redacted(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 ? url.Replace(uri.UserInfo + "@", "", StringComparison.Ordinal) : url;

    /// <summary>Npgsql's connection settings; no password, so Npgsql takes it from PGPASSWORD or the password file (PGPASSFILE, ~/.pgpass).</summary>
    public NpgsqlConnectionStringBuilder ConnectionString() => new()
    {
        Host = Host,
        Port = Port,
        Database = Database,
        Username = User,
        SearchPath = Schema,
        ApplicationName = $"{PostgresSchema.Application} {Schema}",
        Timeout = 15,
        // A statement may wait behind other workers' transactions; Npgsql's default of 30 s cut off a collection's write
        // while the test server was busy with other workers (CI, load ~6).
        CommandTimeout = 300,
    };

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();
}

/// <summary>Connections, transactions and the shared vocabulary of the PostgreSQL store.</summary>
public sealed partial class PostgresNeuronStore
{
    /// <summary>Bounds on the caches; past them a cache starts over.</summary>
    const int MaxCachedWindows = 200_000, MaxCachedWindowIds = 1_000_000;

    /// <summary>How often a write that lost a deadlock or a serialization conflict to another worker is tried again.</summary>
    const int WriteAttempts = 4;

    // Only committed ids are cached (see TokenId), so the caches are shared by every thread.
    readonly ConcurrentDictionary<string, int> tokenIds = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<int, string> tokenTexts = [];
    readonly ConcurrentDictionary<UInt128, long> windowIds = [];
    readonly ConcurrentDictionary<long, string[]> windowTokens = [];
    int vocabularyRead;

    /// <summary>
    /// The id of a token string. Token strings and windows are never changed or deleted, so they are inserted and
    /// committed on their own connection, not in the write that uses them: an id cached once stays true, and workers
    /// that write at once never wait on each other's documents. A write that then fails leaves only unused entries.
    /// </summary>
    public int TokenId(string text)
    {
        if (tokenIds.TryGetValue(text, out int id)) return id;
        id = Autonomous(() =>
        {
            // A conflicting row committed after this statement began is not in its snapshot: read it in the next statement.
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            var inserted = Query("INSERT INTO token_strings (text) VALUES (@text) ON CONFLICT (text) DO NOTHING RETURNING id", r => r.GetInt32(0), ("text", bytes));
            return inserted.Count == 1 ? inserted[0] : Scalar<int>("SELECT id FROM token_strings WHERE text = @text", ("text", bytes));
        });
        tokenIds[text] = id;
        tokenTexts[id] = text;
        return id;
    }

    public string TokenText(int id)
    {
        if (tokenTexts.TryGetValue(id, out var text)) return text;
        // The first miss reads the whole vocabulary (tens of thousands of strings) instead of one query per token.
        if (Interlocked.Exchange(ref vocabularyRead, 1) == 0)
        {
            foreach (var (known, knownText) in Read(() => Query("SELECT id, text FROM token_strings", r => (r.GetInt32(0), Encoding.UTF8.GetString((byte[])r.GetValue(1))))))
                (tokenTexts[known], tokenIds[knownText]) = (knownText, known);
            if (tokenTexts.TryGetValue(id, out text)) return text;
        }
        text = Read(() => Query("SELECT text FROM token_strings WHERE id = @id", r => Encoding.UTF8.GetString((byte[])r.GetValue(0)), ("id", id))).SingleOrDefault()
            ?? throw CompactReader.Damaged($"token string {id} is not in token_strings");
        tokenTexts[id] = text;
        return text;
    }

    public long WindowId(IReadOnlyList<string> tokens)
    {
        var hash = StoreRows.WindowHash(tokens);
        if (windowIds.TryGetValue(hash, out long id)) return id;
        byte[] key = StoreRows.HashBytes(hash);
        byte[] encoded = StoreRows.EncodeWindow(tokens, this);
        var (found, stored) = Autonomous(() =>
        {
            var inserted = Query("INSERT INTO windows (hash, tokens) VALUES (@hash, @tokens) ON CONFLICT (hash) DO NOTHING RETURNING id", r => r.GetInt64(0),
                ("hash", key), ("tokens", encoded));
            return inserted.Count == 1 ? (inserted[0], encoded)
                : Query("SELECT id, tokens FROM windows WHERE hash = @hash", r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("hash", key)).Single();
        });
        // 128 bits make a collision unthinkable, but the first sight of a stored window still checks it.
        if (!stored.AsSpan().SequenceEqual(encoded) && !StoreRows.DecodeWindow(stored, this).SequenceEqual(tokens, StringComparer.Ordinal))
            throw new NeuronExplainerException($"{Location}: two different token windows have the same 128-bit hash; the store cannot hold both");
        if (windowIds.Count >= MaxCachedWindowIds) windowIds.Clear();
        windowIds[hash] = found;
        return found;
    }

    public Dictionary<long, string[]> Windows(IEnumerable<long> ids) => StoreRows.CachedWindows(ids, windowTokens, MaxCachedWindows, missing =>
        Read(() => Query("SELECT id, tokens FROM windows WHERE id = ANY(@ids)", r => (r.GetInt64(0), (byte[])r.GetValue(1)), ("ids", missing.ToArray()))), this);

    /// <summary>Runs <paramref name="read"/> on this flow's connection, or on a pooled one for the time it takes.</summary>
    T Read<T>(Func<T> read)
    {
        if (current.Value is not null) return read();
        return Translate(() =>
        {
            using var connection = source.OpenConnection();
            current.Value = new Session(connection, null);
            try
            {
                return read();
            }
            finally
            {
                current.Value = null;
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="write"/> as one transaction (it lands whole or not at all), or as part of the transaction
    /// this flow is in (a <see cref="Batch"/>, or the Put that called it). A write that another worker's transaction made
    /// fail (a deadlock, a serialization conflict) is run again; anything else rolls back and is thrown.
    /// </summary>
    void Write(Action write)
    {
        if (current.Value is { Transaction: not null }) { write(); return; }
        if (current.Value is not null) throw new InvalidOperationException("a write started inside a read");
        Translate(() =>
        {
            for (int attempt = 1; ; attempt++)
            {
                using var connection = source.OpenConnection();
                using var transaction = connection.BeginTransaction();
                current.Value = new Session(connection, transaction);
                try
                {
                    write();
                    transaction.Commit();
                    return 0;
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure && attempt < WriteAttempts)
                {
                    // Rolled back by the server already; the next attempt starts over.
                }
                finally
                {
                    current.Value = null;
                }
            }
        });
    }

    /// <summary>Runs <paramref name="work"/> on a connection of its own, outside any transaction of this flow (each statement commits).</summary>
    T Autonomous<T>(Func<T> work)
    {
        var outer = current.Value;
        current.Value = null;
        try
        {
            return Read(work);
        }
        finally
        {
            current.Value = outer;
        }
    }

    void Execute(string sql, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command => command.ExecuteNonQuery());

    T Scalar<T>(string sql, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command => (T)command.ExecuteScalar()!);

    List<T> Query<T>(string sql, Func<NpgsqlDataReader, T> map, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command =>
    {
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(map(reader));
        return rows;
    });

    T Use<T>(string sql, (string Name, object? Value)[] parameters, Func<NpgsqlCommand, T> run)
    {
        var session = current.Value ?? throw new InvalidOperationException("a query outside Read or Write");
        using var command = new NpgsqlCommand(sql, session.Connection, session.Transaction);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return run(command);
    }

    void Translate(Action action) => Translate(() => { action(); return 0; });

    /// <summary>Turns Npgsql's failures into one clear line naming the store (never a password: the location holds none).</summary>
    T Translate<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (NpgsqlException e)
        {
            throw Translated(Location, e);
        }
    }

    internal static NeuronExplainerException Translated(string location, NpgsqlException e) => e switch
    {
        PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification } p => new NeuronExplainerException(
            $"{location}: PostgreSQL refused the login ({p.MessageText}); give the password in PGPASSWORD or a ~/.pgpass line (PGPASSFILE names another file)", e),
        PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName } p => new NeuronExplainerException(
            $"{location}: {p.MessageText}; create the database first (createdb) or name one that exists", e),
        PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow } p => Lost(location, p.MessageText, e),
        PostgresException { SqlState: PostgresErrorCodes.ReadOnlySqlTransaction } => new NeuronExplainerException($"{location} is open read-only and cannot be written", e),
        PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } p => new NeuronExplainerException(
            $"{location} cannot be written ({p.MessageText}); the user needs the privileges to create and write tables in the schema", e),
        PostgresException p => new NeuronExplainerException($"{location}: {p.SqlState}: {p.MessageText}", e),
        { InnerException: SocketException s } => new NeuronExplainerException(
            $"{location}: cannot reach the PostgreSQL server ({s.Message}); check that it runs and accepts TCP connections on that host and port", e),
        { InnerException: IOException or EndOfStreamException or TimeoutException } => Lost(location, e.InnerException!.Message, e),
        _ => new NeuronExplainerException($"{location}: {e.Message}", e),
    };

    static NeuronExplainerException Lost(string location, string why, Exception e) => new(
        $"{location}: the connection to PostgreSQL was lost ({why}); the write in progress was rolled back and the store keeps what was committed before it", e);
}
