using System.Globalization;
using Microsoft.Data.Sqlite;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Storage;

/// <summary>
/// The default store: one SQLite file, <c>store.db</c>, in the run directory. WAL and a busy timeout
/// let several processes share it; every Put is one transaction. Safe to share between threads.
/// </summary>
public sealed partial class SqliteNeuronStore : INeuronStore, IStoreVocabulary
{
    public const string FileName = "store.db";
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(30);

    static SqliteNeuronStore() => SQLitePCL.Batteries_V2.Init();

    readonly SqliteConnection connection;
    readonly TimeSpan busyTimeout;
    /// <summary>Guards the connection; re-entered by the thread running a <see cref="Batch"/>.</summary>
    readonly Lock gate = new();
    readonly bool readOnly;
    bool inBatch;

    public string Location { get; }

    SqliteNeuronStore(string path, SqliteOpenMode mode, TimeSpan busyTimeout, bool immutable = false)
    {
        Location = path;
        this.busyTimeout = busyTimeout;
        readOnly = mode == SqliteOpenMode.ReadOnly;
        connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            // immutable=1 (a URI parameter) reads without the -shm file a WAL store needs and an unwritable directory cannot hold.
            DataSource = immutable ? new Uri(Path.GetFullPath(path)).AbsoluteUri + "?immutable=1" : path,
            Mode = mode,
            Pooling = false,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(busyTimeout.TotalSeconds)),
        }.ToString());
        try
        {
            Translate(() =>
            {
                connection.Open();
                Execute($"PRAGMA busy_timeout = {(long)busyTimeout.TotalMilliseconds}");
                if (readOnly)
                {
                    CheckSchema(StoreSchema.LatestVersion);
                    return;
                }
                Migrate();
                Execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
            });
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens the store of a run directory, creating the directory and an empty store if needed.</summary>
    public static SqliteNeuronStore Open(string runDirectory, TimeSpan? busyTimeout = null)
    {
        if (File.Exists(runDirectory))
            throw new NeuronExplainerException($"store '{runDirectory}' is a file; expected a run directory (it holds {FileName})");
        Directory.CreateDirectory(runDirectory);
        return new SqliteNeuronStore(Path.Combine(runDirectory, FileName), SqliteOpenMode.ReadWriteCreate, busyTimeout ?? DefaultBusyTimeout);
    }

    /// <summary>
    /// Opens the store of a run directory that must already hold one. <see cref="StoreAccess.ReadOnly"/> never writes,
    /// so it also reads a store in a directory this process cannot write (a shared results folder, a mounted dataset).
    /// </summary>
    public static SqliteNeuronStore OpenExisting(string runDirectory, StoreAccess access = StoreAccess.ReadWrite, TimeSpan? busyTimeout = null)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
            throw new NeuronExplainerException($"no store in '{runDirectory}': {FileName} not found (create one with a run or import)");
        var timeout = busyTimeout ?? DefaultBusyTimeout;
        if (access == StoreAccess.ReadWrite) return new SqliteNeuronStore(path, SqliteOpenMode.ReadWrite, timeout);
        try
        {
            return new SqliteNeuronStore(path, SqliteOpenMode.ReadOnly, timeout);
        }
        catch (NeuronExplainerException e) when (e.InnerException is SqliteException { SqliteErrorCode: SQLitePCL.raw.SQLITE_CANTOPEN })
        {
            // A WAL store needs its -shm file, which an unwritable directory cannot hold. Without a -wal file no
            // write is in flight, so reading the file as immutable sees exactly what was committed.
            if (File.Exists(path + "-wal"))
                throw new NeuronExplainerException(
                    $"cannot read {path}: its directory is not writable and it has a write-ahead log ({FileName}-wal) of a write in progress or interrupted; open it once where it is writable, or copy the run directory", e);
            return new SqliteNeuronStore(path, SqliteOpenMode.ReadOnly, timeout, immutable: true);
        }
    }

    /// <summary>Refuses what is not a store of a schema this build reads; returns the store's schema version.</summary>
    int CheckSchema(int required)
    {
        int version = (int)Scalar<long>("PRAGMA user_version");
        if (version > StoreSchema.LatestVersion)
            throw new NeuronExplainerException(
                $"{Location} was written with store schema version {version}, but this neuron-explainer reads up to version {StoreSchema.LatestVersion}; use a newer neuron-explainer");
        if (version == 0 && Scalar<long>("SELECT count(*) FROM sqlite_master") > 0)
            throw new NeuronExplainerException($"{Location} is a SQLite database but not a neuron-explainer store (it has other tables and no store schema version)");
        if (version > 0 && Scalar<long>("PRAGMA application_id") != StoreSchema.ApplicationId)
            throw new NeuronExplainerException($"{Location} is a SQLite database of another application, not a neuron-explainer store");
        if (version < required)
            throw new NeuronExplainerException(
                $"{Location} has store schema version {version} and is opened read-only, so it cannot be upgraded to version {required}; run a command that writes to it (e.g. score) once, or copy the run directory somewhere writable");
        return version;
    }

    /// <summary>
    /// Takes the store to the latest schema in one transaction, so an upgrade lands whole or leaves the store as it was.
    /// Migration 7 leaves documents of older stores in legacy_* tables; the store's own Puts convert them, so that runs
    /// after the last migration, against the schema they write.
    /// </summary>
    void Migrate()
    {
        int version = CheckSchema(0);
        if (version == StoreSchema.LatestVersion) return;
        bool converted = false;
        InTransaction(() =>
        {
            for (int next = version + 1; next <= StoreSchema.LatestVersion; next++)
                Execute(StoreSchema.Migrations[next - 1]);
            converted = ConvertLegacyDocuments();
            Execute($"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = {StoreSchema.LatestVersion}");
        });
        // The converted store is a fraction of the old one; give the space back.
        if (converted) Execute("VACUUM");
    }

    public void Batch(Action writes) => Locked(() =>
    {
        if (inBatch) throw new InvalidOperationException("batches do not nest");
        inBatch = true;
        try
        {
            InTransaction(writes);
        }
        finally
        {
            inBatch = false;
        }
        return 0;
    });

    public RunManifest? GetManifest() => Locked(() =>
    {
        var settings = Query("SELECT key, value FROM manifest_settings ORDER BY key", r => (r.GetString(0), r.GetString(1)))
            .ToDictionary(p => p.Item1, p => p.Item2);
        return Query("SELECT model, corpus, tool_version, created_at FROM manifest WHERE id = 1",
            r => new RunManifest(r.GetString(0), r.GetString(1), settings, r.GetString(2), ParseTime(r.GetString(3)))).SingleOrDefault();
    });

    public void PutManifest(RunManifest manifest) => Write(() =>
    {
        Execute("""
            INSERT INTO manifest (id, model, corpus, tool_version, created_at) VALUES (1, $model, $corpus, $tool, $at)
            ON CONFLICT (id) DO UPDATE SET model = excluded.model, corpus = excluded.corpus,
                tool_version = excluded.tool_version, created_at = excluded.created_at
            """, ("$model", manifest.Model), ("$corpus", manifest.Corpus), ("$tool", manifest.ToolVersion), ("$at", FormatTime(manifest.CreatedAt)));
        Execute("DELETE FROM manifest_settings");
        foreach (var (key, value) in manifest.Settings)
            Execute("INSERT INTO manifest_settings (key, value) VALUES ($key, $value)", ("$key", key), ("$value", value));
    });

    public CollectionState GetCollectionState() => Locked(() =>
        Query("SELECT collection_complete FROM manifest WHERE id = 1", r => r.GetBoolean(0)) switch
        {
            [] => CollectionState.None,
            [true] => CollectionState.Complete,
            _ => CollectionState.Incomplete,
        });

    public void MarkCollectionComplete() => Write(() =>
    {
        if (Scalar<long>("SELECT count(*) FROM manifest") == 0)
            throw new InvalidOperationException("a collection is marked complete only after its manifest is written");
        Execute("UPDATE manifest SET collection_complete = 1 WHERE id = 1");
    });

    public void PutNeuronRecords(IReadOnlyList<NeuronRecord> records)
    {
        StoreRows.CheckRecords(records);
        Write(() =>
        {
            // Windows are shared, so records are laid out one by one; deflating them (most of the cost) runs on all cores.
            var raw = records.Select(r => StoreDocuments.EncodeRecord(r, this)).ToArray();
            var blobs = new byte[records.Count][];
            Parallel.For(0, records.Count, i => blobs[i] = raw[i].ToCompressed());
            for (int i = 0; i < records.Count; i++)
            {
                var id = records[i].NeuronId;
                RegisterNeuron(id);
                ReencodeResultsOnNewRecord(id, records[i], blobs[i]);
                Execute("""
                    INSERT INTO neuron_records (layer, kind, neuron, max_activation, record) VALUES ($layer, $kind, $neuron, $max, $record)
                    ON CONFLICT (layer, kind, neuron) DO UPDATE SET max_activation = excluded.max_activation, record = excluded.record
                    """, [.. Unit(id), ("$max", records[i].MaxActivation), ("$record", blobs[i])]);
                decodedRecords.Remove(id);
            }
        });
    }

    /// <summary>
    /// Results refer to their neuron's record excerpts, so before a record is replaced by a different one, the neuron's
    /// results are laid out again against the new record (what no longer matches is then kept inline).
    /// </summary>
    void ReencodeResultsOnNewRecord(NeuronId id, NeuronRecord record, byte[] blob)
    {
        var old = Query($"SELECT record FROM neuron_records WHERE {UnitIs}", r => (byte[])r.GetValue(0), Unit(id)).SingleOrDefault();
        if (old is null || old.AsSpan().SequenceEqual(blob)) return;
        var oldExcerpts = StoreDocuments.Excerpts(DecodeRecordBlob(id, old));
        var newExcerpts = StoreDocuments.Excerpts(record);
        foreach (var (resultId, results) in Query($"SELECT id, results FROM explanation_results WHERE {UnitIs} AND results IS NOT NULL",
            r => (r.GetInt64(0), (byte[])r.GetValue(1)), Unit(id)))
        {
            var decoded = Damaged("explanation_results", () => StoreDocuments.DecodeResults(id, results, () => oldExcerpts, this));
            Execute("UPDATE explanation_results SET results = $results WHERE id = $id",
                ("$results", StoreDocuments.EncodeResults(decoded, newExcerpts, this).ToCompressed()), ("$id", resultId));
        }
    }

    /// <summary>Recently read records with the blob they came from, so explain and score, which read a neuron's record in
    /// turn, decode it once; an entry counts only while the stored blob is the same.</summary>
    readonly Dictionary<NeuronId, (byte[] Blob, NeuronRecord Record)> decodedRecords = [];
    const int MaxDecodedRecords = 256;

    public NeuronRecord? GetNeuronRecord(NeuronId id)
    {
        // The id read back, so an SAE latent spelled without its layer gets the stored one.
        var (stored, blob, cached) = Locked(() =>
            Query($"SELECT layer, kind, neuron, record FROM neuron_records WHERE {UnitIs}", r => (Id: ReadUnit(r, 0), Blob: (byte[])r.GetValue(3)), Unit(id))
                .SingleOrDefault() is var (stored, blob) && blob is not null ? (stored, blob, Decoded(stored, blob)) : default);
        if (blob is null || cached is not null) return cached;
        // Parsing the values, most of decoding, runs outside the store's lock, so other threads' reads and writes go on meanwhile.
        var parsed = Damaged("neuron_records", () => StoreDocuments.ParseRecord(blob));
        return Locked(() => Remember(stored, blob, Damaged("neuron_records", () => parsed.Build(stored, this))));
    }

    NeuronRecord DecodeRecordBlob(NeuronId id, byte[] blob) =>
        Decoded(id, blob) ?? Remember(id, blob, Damaged("neuron_records", () => StoreDocuments.DecodeRecord(id, blob, this)));

    NeuronRecord? Decoded(NeuronId id, byte[] blob) =>
        decodedRecords.TryGetValue(id, out var cached) && cached.Blob.AsSpan().SequenceEqual(blob) ? cached.Record : null;

    NeuronRecord Remember(NeuronId id, byte[] blob, NeuronRecord record)
    {
        if (decodedRecords.Count >= MaxDecodedRecords) decodedRecords.Clear();
        decodedRecords[id] = (blob, record);
        return record;
    }

    /// <summary>The excerpts a neuron's results refer to, read only when a result does.</summary>
    Func<IReadOnlyList<ActivationRecord>> ExcerptsOf(NeuronId id)
    {
        List<ActivationRecord>? excerpts = null;
        return () => excerpts ??= GetNeuronRecord(id) is { } record ? StoreDocuments.Excerpts(record)
            : throw CompactReader.Damaged($"a result of neuron {id} refers to its record, which the store does not hold");
    }

    public IReadOnlyList<NeuronId> ListNeurons(int? layer = null) => Locked(() => Query(
        $"SELECT layer, kind, neuron FROM neurons {LayerFilter(layer)} ORDER BY layer, kind, neuron", r => ReadUnit(r, 0)));

    /// <summary>One index seek per layer (DISTINCT would read every neuron: 307,200 rows for GPT-2 XL).</summary>
    public IReadOnlyList<int> ListLayers() => Locked(() => Query("""
        WITH RECURSIVE layers(layer) AS (
            SELECT min(layer) FROM neurons
            UNION ALL SELECT (SELECT min(layer) FROM neurons WHERE layer > layers.layer) FROM layers WHERE layer IS NOT NULL)
        SELECT layer FROM layers WHERE layer IS NOT NULL
        """, r => r.GetInt32(0)));

    public void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table) =>
        PutDocument("activation_based_tokens", "summary", id, () => StoreDocuments.EncodeActivationTokens(table, this), "activation-based tokens");

    public TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id) =>
        GetDocument("activation_based_tokens", "summary", id, blob => StoreDocuments.DecodeActivationTokens(blob, this));

    public void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary) =>
        PutDocument("weight_based_tokens", "summary", id, () => StoreDocuments.EncodeWeightTokens(summary, this), "weight-based tokens");

    public WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id) =>
        GetDocument("weight_based_tokens", "summary", id, blob => StoreDocuments.DecodeWeightTokens(blob, this));

    public void PutConnections(NeuronId id, NeuronConnections connections) =>
        PutDocument("connections", "connections", id, () => StoreDocuments.EncodeConnections(connections), "connections");

    public NeuronConnections? GetConnections(NeuronId id) => GetDocument("connections", "connections", id, StoreDocuments.DecodeConnections);

    public bool FinishShard(int shard, int shards)
    {
        if (shards < 1 || shard < 0 || shard >= shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} of {shards}");
        bool claimed = false;
        Write(() =>
        {
            if (Query("SELECT shards FROM collection_shards WHERE shards <> $shards LIMIT 1", r => r.GetInt32(0), ("$shards", shards)) is [int other])
                throw new NeuronExplainerException($"{Location} holds a collection split into {other} corpus shards, not {shards}; collect every shard with the same shard count (CollectionSettings.CorpusShard)");
            Execute("INSERT INTO collection_shards (shard, shards, finished_at) VALUES ($shard, $shards, $at) ON CONFLICT (shard) DO UPDATE SET finished_at = excluded.finished_at",
                ("$shard", shard), ("$shards", shards), ("$at", FormatTime(DateTimeOffset.UtcNow)));
            if (Scalar<long>("SELECT count(*) FROM collection_shards") < shards) return;
            if (Query("SELECT shard FROM collection_merge", r => r.GetInt32(0)) is [int holder]) claimed = holder == shard;
            else
            {
                Execute("INSERT INTO collection_merge (id, shard, claimed_at) VALUES (1, $shard, $at)", ("$shard", shard), ("$at", FormatTime(DateTimeOffset.UtcNow)));
                claimed = true;
            }
        });
        return claimed;
    }

    public void PutCheckpoint(string stage, byte[] state) => Write(() => Execute("""
        INSERT INTO checkpoints (stage, state, updated_at) VALUES ($stage, $state, $at)
        ON CONFLICT (stage) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
        """, ("$stage", stage), ("$state", state), ("$at", FormatTime(DateTimeOffset.UtcNow))));

    public byte[]? GetCheckpoint(string stage) => Locked(() =>
        Query("SELECT state FROM checkpoints WHERE stage = $stage", r => (byte[])r.GetValue(0), ("$stage", stage)).SingleOrDefault());

    public void DeleteCheckpoint(string stage) => Write(() => Execute("DELETE FROM checkpoints WHERE stage = $stage", ("$stage", stage)));

    /// <summary>A result's search rows are rowids <c>result_id * SearchRowsPerResult + i</c> (migration 15).</summary>
    const int SearchRowsPerResult = 4096;

    public void PutExplanationResult(NeuronExplanationResult result, NeuronRecord? record = null)
    {
        var explanations = result.Results?.ScoredExplanations ?? [];
        if (explanations.Count > SearchRowsPerResult)
            throw new NeuronExplainerException($"the result of {result.Neuron} for {result.Explainer} / {result.Simulator} has {explanations.Count} explanations; a store keeps at most {SearchRowsPerResult} per result");
        var chosen = StoreRows.CheckResult(result);
        var excerpts = result.Results is null ? null
            : (StoreRows.RecordOf(result, record) ?? GetNeuronRecord(result.Neuron)) is { } stored ? StoreDocuments.Excerpts(stored) : null;
        // Encoded before the lock when it needs no new ids (about a sixth of a result write's time in a profile), so other
        // threads' reads and writes go on meanwhile.
        byte[]? early = result.Results is null ? null : StoreDocuments.EncodeResultsWithoutVocabulary(result.Results, excerpts);
        Write(() =>
        {
            byte[]? blob = result.Results is null ? null : early ?? StoreDocuments.EncodeResults(result.Results, excerpts, this).ToCompressed();
            RegisterNeuron(result.Neuron);
            var unit = Unit(result.Neuron);
            bool control = result.Control != ControlKind.None, wasControl = false, existed = false;
            foreach (var (status, score, isControl) in Query($"""
                SELECT status, score, control FROM explanation_results WHERE {UnitIs} AND explainer = $explainer AND simulator = $simulator
                """, r => (Enum.Parse<NeuronStatus>(r.GetString(0)), r.IsDBNull(1) ? (double?)null : r.GetDouble(1), !r.IsDBNull(2)),
                [.. unit, ("$explainer", result.Explainer), ("$simulator", result.Simulator)]))
            {
                Tally(result.Explainer, result.Simulator, unit, status, score, isControl, -1);
                wasControl = isControl;
                existed = true;
            }
            Tally(result.Explainer, result.Simulator, unit, result.Status, chosen?.ScoredSimulation.EvCorrelationScore, control, +1);
            long id = Scalar<long>("""
                INSERT INTO explanation_results (layer, kind, neuron, explainer, simulator, status, reason, results, chosen_index, chosen_explanation, score, updated_at, control, chosen_by)
                VALUES ($layer, $kind, $neuron, $explainer, $simulator, $status, $reason, $results, $chosen, $text, $score, $at, $control, $chosen_by)
                ON CONFLICT (layer, kind, neuron, explainer, simulator) DO UPDATE SET status = excluded.status, reason = excluded.reason,
                    results = excluded.results, chosen_index = excluded.chosen_index, chosen_explanation = excluded.chosen_explanation,
                    score = excluded.score, updated_at = excluded.updated_at, control = excluded.control, chosen_by = excluded.chosen_by
                RETURNING id
                """,
                [.. unit, ("$explainer", result.Explainer),
                ("$simulator", result.Simulator), ("$status", result.Status.ToString()), ("$reason", result.Reason), ("$results", blob),
                ("$chosen", result.ChosenIndex), ("$text", chosen?.Explanation), ("$score", chosen?.ScoredSimulation.EvCorrelationScore),
                ("$at", FormatTime(result.UpdatedAt)), ("$control", StoreRows.ControlColumn(result.Control)), ("$chosen_by", result.ChosenBy)]);
            // The result settles its work: its claims go with this write, so a worker killed before releasing leaves none behind.
            Execute($"DELETE FROM work_claims WHERE {UnitIs} AND explainer = $explainer AND simulator = $simulator", [.. unit, ("$explainer", result.Explainer), ("$simulator", result.Simulator)]);
            long firstRow = id * SearchRowsPerResult;
            // A new result's id was never used (results are never deleted, so ids only grow): it has no scores or search rows
            // to take back. Not looking for them is three statements of about fifteen, all run under the store's lock.
            if (existed)
            {
                foreach (var old in Query("SELECT method, score, failed FROM explanation_scores WHERE result_id = $id",
                    r => new MethodScore(r.GetString(0), r.IsDBNull(1) ? null : r.GetDouble(1), null) { Failed = r.GetBoolean(2) }, ("$id", id)))
                    TallyMethod(result.Explainer, result.Simulator, unit, old, wasControl, -1);
                Execute("DELETE FROM explanation_scores WHERE result_id = $id", ("$id", id));
                Execute("DELETE FROM explanation_search WHERE rowid BETWEEN $first AND $last", ("$first", firstRow), ("$last", firstRow + SearchRowsPerResult - 1));
            }
            foreach (var score in result.Scores)
            {
                Execute("INSERT INTO explanation_scores (result_id, method, score, undefined_reason, failed, details) VALUES ($id, $method, $score, $reason, $failed, $details)",
                    ("$id", id), ("$method", score.Method), ("$score", score.Value), ("$reason", score.UndefinedReason), ("$failed", score.Failed),
                    ("$details", score.Details));
                TallyMethod(result.Explainer, result.Simulator, unit, score, control, +1);
            }
            // A shuffled control scores another neuron's explanation: searching it would find the wrong neuron.
            if (result.Control != ControlKind.None) return;
            for (int i = 0; i < explanations.Count; i++)
                Execute("INSERT INTO explanation_search (rowid, explanation, layer, kind, neuron) VALUES ($row, $text, $layer, $kind, $neuron)",
                    [.. unit, ("$text", explanations[i].Explanation), ("$row", firstRow + i)]);
        });
    }

    /// <summary>Adds a result to (sign +1) or takes it from (-1) its pair's aggregates; controls are not aggregated.</summary>
    void Tally(string explainer, string simulator, (string Name, object? Value)[] unit, NeuronStatus status, double? score, bool control, int sign)
    {
        if (control) return;
        bool done = status == NeuronStatus.Done, defined = done && score is not null;
        var group = unit.Where(p => p.Name != "$neuron").Concat([("$explainer", (object?)explainer), ("$simulator", simulator), ("$sign", sign)]).ToArray();
        Execute("""
            INSERT INTO score_aggregates (explainer, simulator, layer, kind, results, done, failed, defined, good, score_sum)
            VALUES ($explainer, $simulator, $layer, $kind, $sign, $done, $failed, $defined, $good, $sum)
            ON CONFLICT (explainer, simulator, layer, kind) DO UPDATE SET results = results + excluded.results, done = done + excluded.done,
                failed = failed + excluded.failed, defined = defined + excluded.defined, good = good + excluded.good, score_sum = score_sum + excluded.score_sum
            """, [.. group, ("$done", done ? sign : 0), ("$failed", status == NeuronStatus.Failed ? sign : 0), ("$defined", defined ? sign : 0),
            ("$good", defined && score >= ScoreAggregate.GoodScore ? sign : 0), ("$sum", defined ? sign * score!.Value : 0.0)]);
        if (!defined) return;
        Execute("""
            INSERT INTO score_histogram (explainer, simulator, layer, kind, bin, count) VALUES ($explainer, $simulator, $layer, $kind, $bin, $sign)
            ON CONFLICT (explainer, simulator, layer, kind, bin) DO UPDATE SET count = count + excluded.count
            """, [.. group, ("$bin", ScoreHistogram.Bin(score!.Value))]);
    }

    /// <summary>Adds a method score to (sign +1) or takes it from (-1) its pair's per-method totals; controls are kept apart by their flag.</summary>
    void TallyMethod(string explainer, string simulator, (string Name, object? Value)[] unit, MethodScore score, bool control, int sign)
    {
        var (defined, good) = MethodLayerScores.Counts(score);
        Execute("""
            INSERT INTO method_aggregates (explainer, simulator, layer, kind, method, control, scores, failed, defined, good, score_sum)
            VALUES ($explainer, $simulator, $layer, $kind, $method, $control, $sign, $failed, $defined, $good, $sum)
            ON CONFLICT (explainer, simulator, layer, kind, method, control) DO UPDATE SET scores = scores + excluded.scores,
                failed = failed + excluded.failed, defined = defined + excluded.defined, good = good + excluded.good, score_sum = score_sum + excluded.score_sum
            """, [.. unit.Where(p => p.Name != "$neuron"), ("$explainer", explainer), ("$simulator", simulator), ("$method", score.Method), ("$control", control),
            ("$sign", sign), ("$failed", score.Failed ? sign : 0), ("$defined", defined ? sign : 0), ("$good", good ? sign : 0),
            ("$sum", defined ? sign * score.Value!.Value : 0.0)]);
    }

    public IReadOnlyList<MethodLayerScores> ListMethodLayerScores() => Locked(() => Query("""
        SELECT explainer, simulator, layer, kind, method, control, scores, failed, defined, good, score_sum FROM method_aggregates
        WHERE scores > 0 ORDER BY explainer, simulator, layer, kind, method, control
        """, r => new MethodLayerScores(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetString(4), r.GetBoolean(5),
            r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetDouble(10))));

    public IReadOnlyList<PairLayerScores> ListPairLayerScores() => Locked(() =>
    {
        var histograms = Query("SELECT explainer, simulator, layer, kind, bin, count FROM score_histogram",
            r => (Key: (r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3)), Bin: r.GetInt32(4), Count: r.GetInt32(5))).ToLookup(h => h.Key);
        return Query("""
            SELECT explainer, simulator, layer, results, done, failed, defined, good, score_sum, kind FROM score_aggregates
            WHERE results > 0 ORDER BY explainer, simulator, layer, kind
            """, r =>
            {
                var histogram = new int[ScoreHistogram.Bins];
                foreach (var h in histograms[(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(9))]) histogram[h.Bin] = h.Count;
                return new PairLayerScores(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6),
                    r.GetInt32(7), r.GetDouble(8), histogram) { Kind = r.GetString(9) };
            });
    });

    public IReadOnlyList<NeuronScore> ExtremeScores(string explainer, string simulator, int count, bool best) => Locked(() => Query($"""
        SELECT layer, kind, neuron, chosen_explanation, score FROM explanation_results INDEXED BY explanation_results_by_pair_score
        WHERE explainer = $explainer AND simulator = $simulator AND control IS NULL AND status = 'Done' AND score IS NOT NULL
        ORDER BY {(best ? "score DESC, layer, kind, neuron" : "score, layer DESC, kind DESC, neuron DESC")} LIMIT $count
        """, r => new NeuronScore(ReadUnit(r, 0), explainer, simulator, NeuronStatus.Done, r.IsDBNull(3) ? null : r.GetString(3), r.GetDouble(4)),
        ("$explainer", explainer), ("$simulator", simulator), ("$count", count)));

    /// <summary>Times are stored in round-trip text; results and ledger entries are written in UTC, so text order is time order.</summary>
    public StoreActivity GetActivity(DateTimeOffset since, DateTimeOffset now) => Locked(() =>
    {
        long at = now.ToUnixTimeMilliseconds();
        string from = FormatTime(since.ToUniversalTime());
        var workers = Query("SELECT owner, count(*), max(expires_at) FROM work_claims WHERE expires_at > $now GROUP BY owner ORDER BY owner",
            r => new ClaimHolder(r.GetString(0), r.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))), ("$now", at));
        var costs = Query("SELECT cost FROM ledger WHERE at >= $since AND from_cache = 0", r => StoreRows.ParseCost(r.GetString(0)), ("$since", from));
        return new StoreActivity(workers, (int)Scalar<long>("SELECT count(*) FROM work_claims WHERE expires_at <= $now", ("$now", at)),
            (int)Scalar<long>("SELECT count(*) FROM explanation_results WHERE updated_at >= $since", ("$since", from)), costs.Count, costs.Sum());
    });

    public IReadOnlyList<(int Layer, string Kind, int Count)> CountUnits() => Locked(() =>
        Query("SELECT layer, kind, count(*) FROM neurons GROUP BY layer, kind ORDER BY layer, kind", r => (r.GetInt32(0), r.GetString(1), r.GetInt32(2))));

    public IReadOnlyDictionary<int, int> CountNeuronsByLayer() => Locked(() =>
        Query("SELECT layer, count(*) FROM neurons GROUP BY layer ORDER BY layer", r => (r.GetInt32(0), r.GetInt32(1))).ToDictionary(p => p.Item1, p => p.Item2));

    /// <summary>A result's columns, its per-method scores as one JSON array of [method, score, undefined_reason, failed, details] last.</summary>
    const string ResultColumns = """
        layer, kind, neuron, explainer, simulator, status, reason, results, chosen_index, updated_at, control, chosen_by,
        (SELECT json_group_array(json_array(method, score, undefined_reason, failed, details)) FROM (SELECT * FROM explanation_scores WHERE result_id = explanation_results.id ORDER BY method))
        """;

    public NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator) => Locked(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results WHERE {UnitIs} AND explainer = $explainer AND simulator = $simulator",
        [.. Unit(id), ("$explainer", explainer), ("$simulator", simulator)]).SingleOrDefault());

    public IReadOnlyList<NeuronExplanationResult> GetExplanationResults(NeuronId id) => Locked(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results WHERE {UnitIs} ORDER BY id", Unit(id)));

    public IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null) => Locked(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results {LayerFilter(layer)} ORDER BY layer, kind, neuron, id"));

    public IReadOnlyList<NeuronScore> ListScores(int? layer = null) => Locked(() => Query($"""
        SELECT layer, kind, neuron, explainer, simulator, status, chosen_explanation, score, control FROM explanation_results
        {LayerFilter(layer)} ORDER BY layer, kind, neuron, id
        """,
        r => new NeuronScore(ReadUnit(r, 0), r.GetString(3), r.GetString(4), Enum.Parse<NeuronStatus>(r.GetString(5)),
            r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetDouble(7)) { Control = ReadControl(r, 8) }));

    public IReadOnlyList<MethodScoreRow> ListMethodScores(int? layer = null) => Locked(() => Query($"""
        SELECT r.layer, r.kind, r.neuron, r.explainer, r.simulator, r.control, s.method, s.score, s.undefined_reason, s.failed
        FROM explanation_scores s JOIN explanation_results r ON r.id = s.result_id
        {LayerFilter(layer).Replace("layer", "r.layer", StringComparison.Ordinal)} ORDER BY r.layer, r.kind, r.neuron, r.id, s.method
        """,
        r => new MethodScoreRow(ReadUnit(r, 0), r.GetString(3), r.GetString(4), ReadControl(r, 5),
            new MethodScore(r.GetString(6), r.IsDBNull(7) ? null : r.GetDouble(7), r.IsDBNull(8) ? null : r.GetString(8)) { Failed = r.GetBoolean(9) })));

    public const int MaxSearchQueryLength = StoreRows.MaxSearchQueryLength;

    public const int MaxSearchWords = StoreRows.MaxSearchWords;

    public bool TryClaim(WorkClaim claim, DateTimeOffset now)
    {
        bool claimed = false;
        Write(() => claimed = Query("""
            INSERT INTO work_claims (layer, kind, neuron, explainer, simulator, owner, expires_at) VALUES ($layer, $kind, $neuron, $explainer, $simulator, $owner, $until)
            ON CONFLICT (layer, kind, neuron, explainer, simulator) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE work_claims.owner = excluded.owner OR work_claims.expires_at <= $now
            RETURNING owner
            """, r => r.GetString(0), ClaimKey(claim).Concat([("$owner", claim.Owner), ("$until", claim.Until.ToUnixTimeMilliseconds()),
                ("$now", now.ToUnixTimeMilliseconds())]).ToArray()).Count == 1);
        return claimed;
    }

    /// <summary>One transaction holds the store's write lock, so the claims of one batch need no row locks.</summary>
    public IReadOnlyList<NeuronId> TryClaimBatch(IReadOnlyList<NeuronId> neurons, string explainer, string simulator, string owner, DateTimeOffset until, DateTimeOffset now)
    {
        var claimed = new List<NeuronId>();
        Batch(() =>
        {
            claimed.Clear();
            claimed.AddRange(neurons.Where(n => TryClaim(new WorkClaim(n, explainer, simulator, owner, until), now)));
        });
        return claimed;
    }

    public void RenewClaims(string owner, DateTimeOffset until) => Write(() =>
        Execute("UPDATE work_claims SET expires_at = $until WHERE owner = $owner", ("$until", until.ToUnixTimeMilliseconds()), ("$owner", owner)));

    public void ReleaseClaim(WorkClaim claim) => Write(() => Execute($"""
        DELETE FROM work_claims WHERE {UnitIs} AND explainer = $explainer AND simulator = $simulator AND owner = $owner
        """, ClaimKey(claim).Append(("$owner", claim.Owner)).ToArray()));

    (string Name, object? Value)[] ClaimKey(WorkClaim claim) => [.. Unit(claim.Neuron), ("$explainer", claim.Explainer), ("$simulator", claim.Simulator)];

    public string? GetProtocol() => Locked(() => Query("SELECT protocol FROM explanation_protocol WHERE id = 1", r => r.GetString(0)).SingleOrDefault());

    public string RecordProtocol(string protocol)
    {
        Write(() => Execute("INSERT INTO explanation_protocol (id, protocol, recorded_at) VALUES (1, $protocol, $at) ON CONFLICT (id) DO NOTHING",
            ("$protocol", protocol), ("$at", FormatTime(DateTimeOffset.UtcNow))));
        return GetProtocol()!;
    }

    public IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit, string? kind = null)
    {
        StoreRows.CheckKindFilter(kind);
        // Quote every word so user text is never parsed as FTS5 syntax; the last word matches as a prefix.
        // ORDER BY bm25() measured twice as fast as FTS5's "ORDER BY rank" when every explanation matches.
        // Each word is another FTS5 doclist to intersect (64 copies of a common word took 8 s over 307,200
        // explanations), and the store's one connection serves every other reader meanwhile: bound both.
        var words = StoreRows.SearchWords(query).Select(w => $"\"{w}\"").ToList();
        if (words.Count == 0 || limit <= 0) return [];
        words[^1] += "*";
        string match = string.Join(' ', words);
        return Locked(() =>
        {
            // bm25 reads every matching row's length, and a word in most explanations matches hundreds of thousands of them
            // (0.7 s at 307,200): rank only the first MaxRankedMatches matches in store order, then highlight just the hits.
            var best = Query("""
                SELECT r, rank FROM (SELECT rowid AS r, bm25(explanation_search) AS rank FROM explanation_search WHERE explanation_search MATCH $query
                    AND ($kind IS NULL OR kind = $kind OR ($kind = 'sae' AND kind LIKE 'sae:%')) LIMIT $ranked)
                ORDER BY rank, r LIMIT $limit
                """, r => (Row: r.GetInt64(0), Rank: r.GetDouble(1)), ("$query", match), ("$kind", kind), ("$ranked", MaxRankedMatches), ("$limit", limit));
            if (best.Count == 0) return [];
            // FTS5 seeks by a rowid range but not by a rowid list: without the range, highlighting 50 hits walked every match
            // of the query (1 s for a word in all 307,200 explanations); with it, at most the ranked matches. The unary plus
            // keeps the list a filter on that one walk: offered to FTS5 as a constraint, it ran the MATCH once per listed rowid,
            // and a prefix word's expansion costs ~10 ms at 307,200 explanations (480 ms for 50 hits, 12 ms with the plus).
            var hits = Query("""
                SELECT rowid, layer, kind, neuron, explanation, highlight(explanation_search, 0, $open, $close) FROM explanation_search
                WHERE explanation_search MATCH $query AND rowid BETWEEN $first AND $last AND +rowid IN (SELECT value FROM json_each($rows))
                """,
                r => (Row: r.GetInt64(0), Hit: (ReadUnit(r, 1), r.GetString(4), r.GetString(5))),
                ("$open", SearchHighlight.Open), ("$close", SearchHighlight.Close), ("$query", match), ("$rows", "[" + string.Join(',', best.Select(b => b.Row)) + "]"),
                ("$first", best.Min(b => b.Row)), ("$last", best.Max(b => b.Row)))
                .ToDictionary(h => h.Row, h => h.Hit);
            return (IReadOnlyList<(NeuronId, string, string, double)>)[.. best.Select(b => (hits[b.Row].Item1, hits[b.Row].Item2, hits[b.Row].Item3, b.Rank))];
        });
    }

    public const int MaxRankedMatches = StoreRows.MaxRankedMatches;

    public LlmCacheEntry? GetCachedResponse(string key) => Locked(() => Query(
        "SELECT key, model, request, response, created_at FROM llm_cache WHERE key = $key",
        r => new LlmCacheEntry(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), ParseTime(r.GetString(4))),
        ("$key", key)).SingleOrDefault());

    public void AddLedgerEntry(LedgerEntry entry, LlmCacheEntry? answer = null, CallHold? held = null) => Write(() =>
    {
        if (answer is not null) PutCachedResponse(answer);
        if (held is not null) EndCall(held.Key, held.Owner);
        if (held?.Reservation is { } reservation) EndReservation(reservation);
        var unit = entry.Neuron is { } neuron ? Unit(neuron, forWrite: true) : [("$layer", null), ("$kind", null), ("$neuron", null)];
        Execute("""
        INSERT INTO ledger (layer, kind, neuron, model, purpose, prompt_tokens, completion_tokens, cost, from_cache, at, cached_tokens)
        VALUES ($layer, $kind, $neuron, $model, $purpose, $prompt, $completion, $cost, $cached, $at, $cached_tokens)
        """, [.. unit, ("$cached_tokens", entry.CachedPromptTokens), ("$model", entry.Model), ("$purpose", entry.Purpose),
        ("$prompt", entry.PromptTokens), ("$completion", entry.CompletionTokens), ("$cost", entry.Cost.ToString(CultureInfo.InvariantCulture)),
        ("$cached", entry.FromCache), ("$at", FormatTime(entry.At))]);
        if (entry.Cost != 0)
            Execute("UPDATE llm_budget SET spent = $spent WHERE id = 1", ("$spent", (ReadBudget().Spent + entry.Cost).ToString(CultureInfo.InvariantCulture)));
    });

    void PutCachedResponse(LlmCacheEntry entry) => Execute("""
        INSERT INTO llm_cache (key, model, request, response, created_at) VALUES ($key, $model, $request, $response, $at)
        ON CONFLICT (key) DO UPDATE SET model = excluded.model, request = excluded.request, response = excluded.response, created_at = excluded.created_at
        """, ("$key", entry.Key), ("$model", entry.Model), ("$request", entry.Request), ("$response", entry.Response), ("$at", FormatTime(entry.CreatedAt)));

    /// <summary>The write lock serializes reservations and ledger entries, as the budget row's lock does in PostgreSQL.</summary>
    public string? TryReserveBudget(decimal amount, decimal maxCost, DateTimeOffset until, DateTimeOffset now)
    {
        string? granted = null;
        Write(() =>
        {
            Execute("DELETE FROM llm_reservations WHERE expires_at <= $now", ("$now", now.ToUnixTimeMilliseconds()));
            Execute("UPDATE llm_budget SET max_cost = $max WHERE id = 1", ("$max", maxCost.ToString(CultureInfo.InvariantCulture)));
            var budget = ReadBudget();
            if (budget.Spent + budget.Reserved + amount > maxCost) return;
            granted = Guid.NewGuid().ToString("N");
            Execute("INSERT INTO llm_reservations (id, amount, expires_at) VALUES ($id, $amount, $until)",
                ("$id", granted), ("$amount", amount.ToString(CultureInfo.InvariantCulture)), ("$until", until.ToUnixTimeMilliseconds()));
        });
        return granted;
    }

    public CallClaim TryClaimCall(string key, string owner, DateTimeOffset until, DateTimeOffset now, bool unlessCached = false)
    {
        var claim = CallClaim.Cached;
        Write(() =>
        {
            // Looked for first: BEGIN IMMEDIATE serializes the store's writers, so no answer can land between this and the
            // insert (PostgreSQL's READ COMMITTED needs the other order).
            if (unlessCached && Query("SELECT 1 FROM llm_cache WHERE key = $key", r => r.GetInt64(0), ("$key", key)).Count > 0) return;
            claim = Query("""
            INSERT INTO llm_calls_in_flight (key, owner, expires_at) VALUES ($key, $owner, $until)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE llm_calls_in_flight.owner = excluded.owner OR llm_calls_in_flight.expires_at <= $now
            RETURNING owner
            """, r => r.GetString(0), ("$key", key), ("$owner", owner), ("$until", until.ToUnixTimeMilliseconds()), ("$now", now.ToUnixTimeMilliseconds())).Count == 1
                ? CallClaim.Claimed : CallClaim.HeldElsewhere;
        });
        return claim;
    }

    public void RenewCalls(string owner, DateTimeOffset until) =>
        Write(() => Execute("UPDATE llm_calls_in_flight SET expires_at = $until WHERE owner = $owner", ("$until", until.ToUnixTimeMilliseconds()), ("$owner", owner)));

    public void ReleaseCall(string key, string owner) => Write(() => EndCall(key, owner));

    void EndCall(string key, string owner) =>
        Execute("DELETE FROM llm_calls_in_flight WHERE key = $key AND owner = $owner", ("$key", key), ("$owner", owner));

    public void ReleaseBudget(string reservation) => Write(() => EndReservation(reservation));

    void EndReservation(string reservation) => Execute("DELETE FROM llm_reservations WHERE id = $id", ("$id", reservation));

    public LlmBudget GetBudget(DateTimeOffset now) => Locked(() => ReadBudget(now));

    LlmBudget ReadBudget(DateTimeOffset? now = null)
    {
        var (spent, max) = Query("SELECT spent, max_cost FROM llm_budget WHERE id = 1",
            r => (StoreRows.ParseCost(r.GetString(0)), r.IsDBNull(1) ? (decimal?)null : StoreRows.ParseCost(r.GetString(1)))).Single();
        decimal reserved = Query("SELECT amount FROM llm_reservations WHERE expires_at > $now", r => StoreRows.ParseCost(r.GetString(0)),
            ("$now", (now ?? DateTimeOffset.MinValue).ToUnixTimeMilliseconds())).Sum();
        return new LlmBudget(spent, max, reserved);
    }

    public IReadOnlyList<LedgerEntry> ListLedger() => Locked(() => Query(
        "SELECT layer, kind, neuron, model, purpose, prompt_tokens, completion_tokens, cost, from_cache, at, cached_tokens FROM ledger ORDER BY id",
        r => new LedgerEntry(r.IsDBNull(0) ? null : ReadUnit(r, 0), r.GetString(3), r.GetString(4),
            r.GetInt32(5), r.GetInt32(6), decimal.Parse(r.GetString(7), CultureInfo.InvariantCulture), r.GetBoolean(8), ParseTime(r.GetString(9)))
        { CachedPromptTokens = r.GetInt32(10) }));

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var command in prepared.Values) command.Dispose();
            prepared.Clear();
            connection.Dispose();
        }
    }

    /// <summary>Results read by a query of <see cref="ResultColumns"/>; their documents are decoded after the query, since
    /// a scored excerpt may refer to its neuron's record.</summary>
    List<NeuronExplanationResult> ReadResults(string sql, params (string Name, object? Value)[] parameters) =>
        Query(sql, r => (Result: new NeuronExplanationResult(
            ReadUnit(r, 0), r.GetString(3), r.GetString(4), Enum.Parse<NeuronStatus>(r.GetString(5)),
            r.IsDBNull(6) ? null : r.GetString(6), null, r.IsDBNull(8) ? null : r.GetInt32(8), ParseTime(r.GetString(9)))
        {
            Control = ReadControl(r, 10),
            ChosenBy = r.IsDBNull(11) ? null : r.GetString(11),
            Scores = StoreRows.ReadScores(r.GetString(12)),
        }, Blob: r.IsDBNull(7) ? null : (byte[])r.GetValue(7)), parameters)
        .Select(row => row.Blob is null ? row.Result : row.Result with
        {
            Results = Damaged("explanation_results", () => StoreDocuments.DecodeResults(row.Result.Neuron, row.Blob, ExcerptsOf(row.Result.Neuron), this)),
        })
        .ToList();

    ControlKind ReadControl(SqliteDataReader r, int column) => StoreRows.ReadControl(r.IsDBNull(column) ? null : r.GetString(column), Location);

    /// <summary>A literal filter rather than "$layer IS NULL OR ...", which would keep SQLite from using the index.</summary>
    static string LayerFilter(int? layer) => layer is int l ? $"WHERE layer = {l}" : "";

    void RegisterNeuron(NeuronId id) => Execute("INSERT OR IGNORE INTO neurons (layer, kind, neuron) VALUES ($layer, $kind, $neuron)", Unit(id, forWrite: true));

    /// <summary>Rows of a unit match on all three key columns (<c>$layer</c>, <c>$kind</c>, <c>$neuron</c> of <see cref="Unit"/>).</summary>
    const string UnitIs = "layer = $layer AND kind = $kind AND neuron = $neuron";

    /// <summary>The key parameters of a unit (see <see cref="StoreRows.UnitLayer"/> for an SAE latent's layer).</summary>
    (string Name, object? Value)[] Unit(NeuronId id, bool forWrite = false) =>
    [
        ("$layer", StoreRows.UnitLayer(id, forWrite, () => Query("SELECT layer FROM neurons WHERE kind = $kind LIMIT 1", r => r.GetInt32(0), ("$kind", id.KindKey)) is [int l] ? l : null)),
        ("$kind", id.KindKey), ("$neuron", id.NeuronIndex),
    ];

    /// <summary>The unit of a row whose columns <paramref name="first"/>.. are layer, kind and index.</summary>
    NeuronId ReadUnit(SqliteDataReader r, int first) => StoreRows.ReadUnit(r.GetString(first + 1), r.GetInt32(first), r.GetInt32(first + 2), Location);

    void PutDocument(string table, string column, NeuronId id, Func<CompactWriter> encode, string what) => Write(() =>
    {
        byte[] blob = StoreRows.Checked(encode, $"the {what} of neuron {id}").ToCompressed();
        RegisterNeuron(id);
        Execute($"""
            INSERT INTO {table} (layer, kind, neuron, {column}) VALUES ($layer, $kind, $neuron, $blob)
            ON CONFLICT (layer, kind, neuron) DO UPDATE SET {column} = excluded.{column}
            """, [.. Unit(id), ("$blob", blob)]);
    });

    T? GetDocument<T>(string table, string column, NeuronId id, Func<byte[], T> decode) where T : class => Locked(() => Query(
        $"SELECT {column} FROM {table} WHERE {UnitIs}", r => (byte[])r.GetValue(0), Unit(id)).SingleOrDefault() is { } blob
            ? Damaged(table, () => decode(blob)) : null);

    /// <summary>Decodes a stored document; one that cannot be read is reported as damaged, naming the table.</summary>
    T Damaged<T>(string table, Func<T> decode)
    {
        try
        {
            return decode();
        }
        catch (InvalidDataException e)
        {
            throw new NeuronExplainerException($"{Location}: a document in table {table} is damaged ({e.Message})", e);
        }
    }

    static string FormatTime(DateTimeOffset time) => StoreRows.FormatTime(time);

    static DateTimeOffset ParseTime(string text) => StoreRows.ParseTime(text);

    T Locked<T>(Func<T> read)
    {
        lock (gate) return Translate(read);
    }

    /// <summary>
    /// Runs <paramref name="write"/> as one immediate transaction (it lands whole or not at all), or as
    /// part of the open <see cref="Batch"/>.
    /// </summary>
    void Write(Action write) => Locked(() =>
    {
        if (inBatch) write();
        else InTransaction(write);
        return 0;
    });

    /// <summary>
    /// Runs <paramref name="writes"/> as one immediate transaction, by plain BEGIN and COMMIT: after some failures
    /// (a full disk, an I/O error) SQLite has already rolled the transaction back, and a second rollback would
    /// replace the real error with "cannot rollback - no transaction is active".
    /// </summary>
    void InTransaction(Action writes)
    {
        Execute("BEGIN IMMEDIATE");
        try
        {
            writes();
            Execute("COMMIT");
        }
        catch
        {
            ForgetUncommitted();
            if (SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0) Execute("ROLLBACK");
            throw;
        }
    }

    void Translate(Action action) => Translate(() => { action(); return 0; });

    /// <summary>Turns SQLite's failures into one clear line naming the store file.</summary>
    T Translate<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (SqliteException e)
        {
            throw e.SqliteErrorCode switch
            {
                SQLitePCL.raw.SQLITE_BUSY or SQLitePCL.raw.SQLITE_LOCKED => new NeuronExplainerException(
                    $"{Location} is locked by another process and stayed locked for the {busyTimeout.TotalSeconds:0.#} s busy timeout; retry when it finishes", e),
                SQLitePCL.raw.SQLITE_NOTADB => new NeuronExplainerException($"{Location} is not a SQLite database; expected a neuron-explainer store", e),
                SQLitePCL.raw.SQLITE_FULL => new NeuronExplainerException(
                    $"{Location}: the disk holding the store is full ({e.Message}); free space and run again (what was stored before is kept)", e),
                SQLitePCL.raw.SQLITE_CORRUPT => new NeuronExplainerException($"{Location} is corrupt ({e.Message})", e),
                SQLitePCL.raw.SQLITE_READONLY => new NeuronExplainerException(readOnly
                    ? $"{Location} is open read-only and cannot be written ({e.Message})"
                    : $"{Location} cannot be written ({e.Message}); check the permissions of the file and its directory", e),
                _ => new NeuronExplainerException($"{Location}: {e.Message}", e),
            };
        }
    }

    void Execute(string sql, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command => command.ExecuteNonQuery());

    T Scalar<T>(string sql, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command => (T)command.ExecuteScalar()!);

    List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters) => Use(sql, parameters, command =>
    {
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(map(reader));
        return rows;
    });

    /// <summary>
    /// Prepared statements by SQL text: SQLite parses and plans a statement on its first use, which cost more than running it
    /// (a result's write runs a dozen). A statement in use is taken out, so a nested use of the same text gets its own.
    /// </summary>
    readonly Dictionary<string, SqliteCommand> prepared = [];

    T Use<T>(string sql, (string Name, object? Value)[] parameters, Func<SqliteCommand, T> run)
    {
        if (!prepared.Remove(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
        }
        command.Parameters.Clear();
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        try
        {
            return run(command);
        }
        finally
        {
            if (!prepared.TryAdd(sql, command)) command.Dispose();
        }
    }
}
