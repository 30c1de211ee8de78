using System.Globalization;
using Npgsql;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>
/// A store in one schema of a PostgreSQL database, shared by any number of processes on any number of machines: the
/// same tables, versions and results as <see cref="SqliteNeuronStore"/>. Every Put is one transaction on a pooled
/// connection; reads and writes of different threads run side by side. Safe to share between threads.
/// </summary>
public sealed partial class PostgresNeuronStore : INeuronStore, IStoreVocabulary
{
    readonly NpgsqlDataSource source;
    readonly string schema;
    readonly bool readOnly;
    /// <summary>The connection (and transaction) of the write or read in progress on this flow of control, so the
    /// queries a Put makes, and the Puts of a <see cref="Batch"/>, share one transaction.</summary>
    readonly AsyncLocal<Session?> current = new();

    sealed record Session(NpgsqlConnection Connection, NpgsqlTransaction? Transaction);

    public string Location { get; }

    PostgresNeuronStore(PostgresLocation location, StoreAccess access, bool mustExist)
    {
        Location = location.Shown;
        schema = location.Schema;
        readOnly = access == StoreAccess.ReadOnly;
        var builder = location.ConnectionString();
        if (readOnly) builder.Options = "-c default_transaction_read_only=on";
        source = NpgsqlDataSource.Create(builder);
        try
        {
            Translate(() =>
            {
                if (readOnly || mustExist)
                {
                    int version = Read(() => CheckSchema());
                    if (version < 0) throw new NeuronExplainerException($"no store in {Location}: schema {schema} holds none (create one with a run or import)");
                    if (readOnly)
                    {
                        if (version < StoreSchema.LatestVersion)
                            throw new NeuronExplainerException(
                                $"{Location} has store schema version {version} and is opened read-only, so it cannot be upgraded to version {StoreSchema.LatestVersion}; run a command that writes to it (e.g. score) once");
                        return;
                    }
                }
                Migrate();
            });
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Opens the store at a <c>postgresql://</c> URL, creating its schema and an empty store if needed.</summary>
    public static PostgresNeuronStore Open(string url) => new(PostgresLocation.Parse(url), StoreAccess.ReadWrite, mustExist: false);

    /// <summary>Opens the store at a <c>postgresql://</c> URL, which must already hold one.</summary>
    public static PostgresNeuronStore OpenExisting(string url, StoreAccess access = StoreAccess.ReadWrite) =>
        new(PostgresLocation.Parse(url), access, mustExist: true);

    /// <summary>Removes the store and everything in it (collect --force): its schema, or its tables where that is <c>public</c>.</summary>
    public static void Discard(string url)
    {
        var location = PostgresLocation.Parse(url);
        using var store = new PostgresNeuronStore(location, StoreAccess.ReadWrite, mustExist: false);
        store.Write(() =>
        {
            if (location.Schema != PostgresLocation.DefaultSchema)
            {
                store.Execute($"DROP SCHEMA {Quote(location.Schema)} CASCADE");
                return;
            }
            // Opening checked that every table of the schema is the store's.
            var tables = store.Query("SELECT tablename FROM pg_tables WHERE schemaname = @schema", r => Quote(r.GetString(0)), ("schema", location.Schema));
            store.Execute($"DROP TABLE {string.Join(", ", tables)} CASCADE");
        });
    }

    /// <summary>The store's schema version, or -1 when the schema holds no store; refuses what this build cannot read.</summary>
    int CheckSchema()
    {
        bool hasTable = Scalar<bool>("SELECT to_regclass(@table) IS NOT NULL", ("table", $"{Quote(schema)}.store_schema"));
        if (!hasTable)
        {
            bool other = Scalar<bool>("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = @schema)", ("schema", schema));
            if (other) throw new NeuronExplainerException($"{Location}: schema {schema} has other tables and no store_schema table; it is not a neuron-explainer store");
            return -1;
        }
        var (application, version) = Query("SELECT application, version FROM store_schema WHERE id = 1", r => (r.GetString(0), r.GetInt32(1))).Single();
        if (application != PostgresSchema.Application)
            throw new NeuronExplainerException($"{Location}: schema {schema} is a store of '{application}', not a neuron-explainer store");
        if (version > StoreSchema.LatestVersion)
            throw new NeuronExplainerException(
                $"{Location} was written with store schema version {version}, but this neuron-explainer reads up to version {StoreSchema.LatestVersion}; use a newer neuron-explainer");
        return version;
    }

    /// <summary>
    /// Brings the schema to the latest version, one transaction per migration under an advisory lock on the schema's
    /// name, so workers starting together on a new or older store migrate it once.
    /// </summary>
    void Migrate()
    {
        for (bool done = false; !done;)
        {
            Write(() =>
            {
                Execute("SELECT pg_advisory_xact_lock(hashtext(@key))", ("key", $"{PostgresSchema.Application}:{schema}"));
                Execute($"CREATE SCHEMA IF NOT EXISTS {Quote(schema)}");
                int version = CheckSchema();
                if (version < 0)
                {
                    Execute(PostgresSchema.VersionTable);
                    version = 0;
                }
                done = version >= PostgresSchema.Migrations.Length;
                if (done) return;
                Execute(PostgresSchema.Migrations[version]);
                Execute("UPDATE store_schema SET version = @version WHERE id = 1", ("version", version + 1));
            });
        }
    }

    static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public void Batch(Action writes)
    {
        if (current.Value is { Transaction: not null }) throw new InvalidOperationException("batches do not nest");
        Write(writes);
    }

    public RunManifest? GetManifest() => Read(() =>
    {
        var settings = Query("SELECT key, value FROM manifest_settings", r => (r.GetString(0), r.GetString(1))).ToDictionary(p => p.Item1, p => p.Item2);
        return Query("SELECT model, corpus, tool_version, created_at FROM manifest WHERE id = 1",
            r => new RunManifest(r.GetString(0), r.GetString(1), settings, r.GetString(2), StoreRows.ParseTime(r.GetString(3)))).SingleOrDefault();
    });

    public void PutManifest(RunManifest manifest) => Write(() =>
    {
        Execute("""
            INSERT INTO manifest (id, model, corpus, tool_version, created_at) VALUES (1, @model, @corpus, @tool, @at)
            ON CONFLICT (id) DO UPDATE SET model = excluded.model, corpus = excluded.corpus, tool_version = excluded.tool_version, created_at = excluded.created_at
            """, ("model", manifest.Model), ("corpus", manifest.Corpus), ("tool", manifest.ToolVersion), ("at", StoreRows.FormatTime(manifest.CreatedAt)));
        Execute("DELETE FROM manifest_settings");
        foreach (var (key, value) in manifest.Settings)
            Execute("INSERT INTO manifest_settings (key, value) VALUES (@key, @value)", ("key", key), ("value", value));
    });

    public CollectionState GetCollectionState() => Read(() =>
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
        Execute("UPDATE manifest SET collection_complete = TRUE WHERE id = 1");
    });

    public void PutNeuronRecords(IReadOnlyList<NeuronRecord> records)
    {
        StoreRows.CheckRecords(records);
        // Windows and token strings are committed on their own (see TokenId), so they are laid out before the transaction.
        var raw = records.Select(r => StoreDocuments.EncodeRecord(r, this)).ToArray();
        var blobs = new byte[records.Count][];
        Parallel.For(0, records.Count, i => blobs[i] = raw[i].ToCompressed());
        Write(() =>
        {
            for (int i = 0; i < records.Count; i++)
            {
                var id = records[i].NeuronId;
                RegisterNeuron(id);
                ReencodeResultsOnNewRecord(id, records[i], blobs[i]);
                Execute("""
                    INSERT INTO neuron_records (layer, kind, neuron, max_activation, record) VALUES (@layer, @kind, @neuron, @max, @record)
                    ON CONFLICT (layer, kind, neuron) DO UPDATE SET max_activation = excluded.max_activation, record = excluded.record
                    """, [.. Unit(id), ("max", records[i].MaxActivation), ("record", blobs[i])]);
            }
        });
    }

    /// <summary>Lays a neuron's results out again against its new record before the record is replaced (as the SQLite store does).</summary>
    void ReencodeResultsOnNewRecord(NeuronId id, NeuronRecord record, byte[] blob)
    {
        var old = Query($"SELECT record FROM neuron_records WHERE {UnitIs} FOR UPDATE", r => (byte[])r.GetValue(0), Unit(id)).SingleOrDefault();
        if (old is null || old.AsSpan().SequenceEqual(blob)) return;
        var oldExcerpts = StoreDocuments.Excerpts(DecodeRecordBlob(id, old));
        var newExcerpts = StoreDocuments.Excerpts(record);
        foreach (var (resultId, results) in Query($"SELECT id, results FROM explanation_results WHERE {UnitIs} AND results IS NOT NULL",
            r => (r.GetInt64(0), (byte[])r.GetValue(1)), Unit(id)))
        {
            var decoded = Damaged("explanation_results", () => StoreDocuments.DecodeResults(id, results, () => oldExcerpts, this));
            Execute("UPDATE explanation_results SET results = @results WHERE id = @id",
                ("results", StoreDocuments.EncodeResults(decoded, newExcerpts, this).ToCompressed()), ("id", resultId));
        }
    }

    public NeuronRecord? GetNeuronRecord(NeuronId id) => Read(() =>
        Query($"SELECT layer, kind, neuron, record FROM neuron_records WHERE {UnitIs}", r => (Id: ReadUnit(r, 0), Blob: (byte[])r.GetValue(3)), Unit(id))
            .SingleOrDefault() is { Blob: not null } row ? DecodeRecordBlob(row.Id, row.Blob) : null);

    NeuronRecord DecodeRecordBlob(NeuronId id, byte[] blob) => Damaged("neuron_records", () => StoreDocuments.DecodeRecord(id, blob, this));

    /// <summary>The excerpts a neuron's results refer to, read only when a result does.</summary>
    Func<IReadOnlyList<ActivationRecord>> ExcerptsOf(NeuronId id)
    {
        List<ActivationRecord>? excerpts = null;
        return () => excerpts ??= GetNeuronRecord(id) is { } record ? StoreDocuments.Excerpts(record)
            : throw CompactReader.Damaged($"a result of neuron {id} refers to its record, which the store does not hold");
    }

    public IReadOnlyList<NeuronId> ListNeurons(int? layer = null) => Read(() => Query(
        $"SELECT layer, kind, neuron FROM neurons {LayerFilter(layer)} ORDER BY layer, kind COLLATE \"C\", neuron", r => ReadUnit(r, 0)));

    /// <summary>One index seek per layer, as in the SQLite store.</summary>
    public IReadOnlyList<int> ListLayers() => Read(() => Query("""
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

    public void PutCheckpoint(string stage, byte[] state) => Write(() => Execute("""
        INSERT INTO checkpoints (stage, state, updated_at) VALUES (@stage, @state, @at)
        ON CONFLICT (stage) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
        """, ("stage", stage), ("state", state), ("at", StoreRows.FormatTime(DateTimeOffset.UtcNow))));

    public byte[]? GetCheckpoint(string stage) => Read(() =>
        Query("SELECT state FROM checkpoints WHERE stage = @stage", r => (byte[])r.GetValue(0), ("stage", stage)).SingleOrDefault());

    public void DeleteCheckpoint(string stage) => Write(() => Execute("DELETE FROM checkpoints WHERE stage = @stage", ("stage", stage)));

    /// <summary>The shard table is locked for the transaction (the lock conflicts with itself), so shards finishing at
    /// once take turns and exactly one sees every shard finished first.</summary>
    public bool FinishShard(int shard, int shards)
    {
        if (shards < 1 || shard < 0 || shard >= shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} of {shards}");
        bool claimed = false;
        Write(() =>
        {
            Execute("LOCK TABLE collection_shards IN SHARE ROW EXCLUSIVE MODE");
            if (Query("SELECT shards FROM collection_shards WHERE shards <> @shards LIMIT 1", r => r.GetInt32(0), ("shards", shards)) is [int other])
                throw new NeuronExplainerException($"{Location} holds a collection split into {other} corpus shards, not {shards}; collect every shard with the same shard count (CollectionSettings.CorpusShard)");
            Execute("INSERT INTO collection_shards (shard, shards, finished_at) VALUES (@shard, @shards, @at) ON CONFLICT (shard) DO UPDATE SET finished_at = excluded.finished_at",
                ("shard", shard), ("shards", shards), ("at", StoreRows.FormatTime(DateTimeOffset.UtcNow)));
            if (Scalar<long>("SELECT count(*) FROM collection_shards") < shards) return;
            if (Query("SELECT shard FROM collection_merge", r => r.GetInt32(0)) is [int holder]) claimed = holder == shard;
            else
            {
                Execute("INSERT INTO collection_merge (id, shard, claimed_at) VALUES (1, @shard, @at)", ("shard", shard), ("at", StoreRows.FormatTime(DateTimeOffset.UtcNow)));
                claimed = true;
            }
        });
        return claimed;
    }

    public void PutExplanationResult(NeuronExplanationResult result, NeuronRecord? record = null)
    {
        var explanations = result.Results?.ScoredExplanations ?? [];
        var chosen = StoreRows.CheckResult(result);
        byte[]? blob = result.Results is null ? null
            : StoreDocuments.EncodeResults(result.Results, (StoreRows.RecordOf(result, record) ?? GetNeuronRecord(result.Neuron)) is { } stored ? StoreDocuments.Excerpts(stored) : null, this).ToCompressed();
        Write(() =>
        {
            RegisterNeuron(result.Neuron);
            var unit = Unit(result.Neuron, forWrite: true);
            int layer = (int)unit[0].Value!;
            // FOR UPDATE: a concurrent write of the same result waits here, so the aggregates take its old row out once.
            string kind = result.Neuron.KindKey;
            bool control = result.Control != ControlKind.None, wasControl = false;
            foreach (var (status, score, isControl) in Query($"""
                SELECT status, score, control FROM explanation_results
                WHERE {UnitIs} AND explainer = @explainer AND simulator = @simulator FOR UPDATE
                """, r => (Enum.Parse<NeuronStatus>(r.GetString(0)), r.IsDBNull(1) ? (double?)null : r.GetDouble(1), !r.IsDBNull(2)),
                [.. unit, ("explainer", result.Explainer), ("simulator", result.Simulator)]))
            {
                Tally(result.Explainer, result.Simulator, layer, kind, status, score, isControl, -1);
                wasControl = isControl;
            }
            Tally(result.Explainer, result.Simulator, layer, kind, result.Status, chosen?.ScoredSimulation.EvCorrelationScore, control, +1);
            long id = Scalar<long>("""
                INSERT INTO explanation_results (layer, kind, neuron, explainer, simulator, status, reason, results, chosen_index, chosen_explanation, score, updated_at, control, chosen_by)
                VALUES (@layer, @kind, @neuron, @explainer, @simulator, @status, @reason, @results, @chosen, @text, @score, @at, @control, @chosen_by)
                ON CONFLICT (layer, kind, neuron, explainer, simulator) DO UPDATE SET status = excluded.status, reason = excluded.reason,
                    results = excluded.results, chosen_index = excluded.chosen_index, chosen_explanation = excluded.chosen_explanation,
                    score = excluded.score, updated_at = excluded.updated_at, control = excluded.control, chosen_by = excluded.chosen_by
                RETURNING id
                """,
                [.. unit, ("explainer", result.Explainer),
                ("simulator", result.Simulator), ("status", result.Status.ToString()), ("reason", result.Reason), ("results", blob),
                ("chosen", result.ChosenIndex), ("text", chosen?.Explanation), ("score", chosen?.ScoredSimulation.EvCorrelationScore),
                ("at", StoreRows.FormatTime(result.UpdatedAt)), ("control", StoreRows.ControlColumn(result.Control)), ("chosen_by", result.ChosenBy)]);
            foreach (var old in Query("SELECT method, score, failed FROM explanation_scores WHERE result_id = @id",
                r => new MethodScore(r.GetString(0), r.IsDBNull(1) ? null : r.GetDouble(1), null) { Failed = r.GetBoolean(2) }, ("id", id)))
                TallyMethod(result.Explainer, result.Simulator, layer, kind, old, wasControl, -1);
            // The result settles its work: its claims go with this write, so a worker killed before releasing leaves none behind.
            Execute($"DELETE FROM work_claims WHERE {UnitIs} AND explainer = @explainer AND simulator = @simulator", [.. unit, ("explainer", result.Explainer), ("simulator", result.Simulator)]);
            Execute("DELETE FROM explanation_scores WHERE result_id = @id", ("id", id));
            foreach (var score in result.Scores)
            {
                Execute("INSERT INTO explanation_scores (result_id, method, score, undefined_reason, failed, details) VALUES (@id, @method, @score, @reason, @failed, @details)",
                    ("id", id), ("method", score.Method), ("score", score.Value), ("reason", score.UndefinedReason), ("failed", score.Failed), ("details", score.Details));
                TallyMethod(result.Explainer, result.Simulator, layer, kind, score, control, +1);
            }
            Execute("DELETE FROM explanation_search WHERE result_id = @id", ("id", id));
            // A shuffled control scores another neuron's explanation: searching it would find the wrong neuron.
            if (result.Control != ControlKind.None) return;
            foreach (var explanation in explanations)
                Execute("INSERT INTO explanation_search (explanation, result_id, layer, kind, neuron) VALUES (@text, @id, @layer, @kind, @neuron)",
                    [("text", explanation.Explanation), ("id", id), .. unit]);
        });
    }

    /// <summary>Adds a result to (sign +1) or takes it from (-1) its pair's aggregates; controls are not aggregated.</summary>
    void Tally(string explainer, string simulator, int layer, string kind, NeuronStatus status, double? score, bool control, int sign)
    {
        if (control) return;
        bool done = status == NeuronStatus.Done, defined = done && score is not null;
        Execute("""
            INSERT INTO score_aggregates AS a (explainer, simulator, layer, kind, results, done, failed, defined, good, score_sum)
            VALUES (@explainer, @simulator, @layer, @kind, @sign, @done, @failed, @defined, @good, @sum)
            ON CONFLICT (explainer, simulator, layer, kind) DO UPDATE SET results = a.results + excluded.results, done = a.done + excluded.done,
                failed = a.failed + excluded.failed, defined = a.defined + excluded.defined, good = a.good + excluded.good, score_sum = a.score_sum + excluded.score_sum
            """, ("explainer", explainer), ("simulator", simulator), ("layer", layer), ("kind", kind), ("sign", sign), ("done", done ? sign : 0),
            ("failed", status == NeuronStatus.Failed ? sign : 0), ("defined", defined ? sign : 0),
            ("good", defined && score >= ScoreAggregate.GoodScore ? sign : 0), ("sum", defined ? sign * score!.Value : 0.0));
        if (!defined) return;
        Execute("""
            INSERT INTO score_histogram AS h (explainer, simulator, layer, kind, bin, count) VALUES (@explainer, @simulator, @layer, @kind, @bin, @sign)
            ON CONFLICT (explainer, simulator, layer, kind, bin) DO UPDATE SET count = h.count + excluded.count
            """, ("explainer", explainer), ("simulator", simulator), ("layer", layer), ("kind", kind), ("bin", ScoreHistogram.Bin(score!.Value)), ("sign", sign));
    }

    /// <summary>Adds a method score to (sign +1) or takes it from (-1) its pair's per-method totals; controls are kept apart by their flag.</summary>
    void TallyMethod(string explainer, string simulator, int layer, string kind, MethodScore score, bool control, int sign)
    {
        var (defined, good) = MethodLayerScores.Counts(score);
        Execute("""
            INSERT INTO method_aggregates AS a (explainer, simulator, layer, kind, method, control, scores, failed, defined, good, score_sum)
            VALUES (@explainer, @simulator, @layer, @kind, @method, @control, @sign, @failed, @defined, @good, @sum)
            ON CONFLICT (explainer, simulator, layer, kind, method, control) DO UPDATE SET scores = a.scores + excluded.scores,
                failed = a.failed + excluded.failed, defined = a.defined + excluded.defined, good = a.good + excluded.good, score_sum = a.score_sum + excluded.score_sum
            """, ("explainer", explainer), ("simulator", simulator), ("layer", layer), ("kind", kind), ("method", score.Method), ("control", control),
            ("sign", sign), ("failed", score.Failed ? sign : 0), ("defined", defined ? sign : 0), ("good", good ? sign : 0),
            ("sum", defined ? sign * score.Value!.Value : 0.0));
    }

    public IReadOnlyList<MethodLayerScores> ListMethodLayerScores() => Read(() => Query("""
        SELECT explainer, simulator, layer, kind, method, control, scores, failed, defined, good, score_sum FROM method_aggregates
        WHERE scores > 0 ORDER BY explainer COLLATE "C", simulator COLLATE "C", layer, kind COLLATE "C", method COLLATE "C", control
        """, r => new MethodLayerScores(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetString(4), r.GetBoolean(5),
            r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetDouble(10))));

    public IReadOnlyList<PairLayerScores> ListPairLayerScores() => Read(() =>
    {
        var histograms = Query("SELECT explainer, simulator, layer, kind, bin, count FROM score_histogram",
            r => (Key: (r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3)), Bin: r.GetInt32(4), Count: r.GetInt32(5))).ToLookup(h => h.Key);
        return Query("""
            SELECT explainer, simulator, layer, results, done, failed, defined, good, score_sum, kind FROM score_aggregates
            WHERE results > 0 ORDER BY explainer COLLATE "C", simulator COLLATE "C", layer, kind COLLATE "C"
            """, r =>
            {
                var histogram = new int[ScoreHistogram.Bins];
                foreach (var h in histograms[(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(9))]) histogram[h.Bin] = h.Count;
                return new PairLayerScores(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6),
                    r.GetInt32(7), r.GetDouble(8), histogram) { Kind = r.GetString(9) };
            });
    });

    public IReadOnlyList<NeuronScore> ExtremeScores(string explainer, string simulator, int count, bool best) => Read(() => Query($"""
        SELECT layer, kind, neuron, chosen_explanation, score FROM explanation_results
        WHERE explainer = @explainer AND simulator = @simulator AND control IS NULL AND status = 'Done' AND score IS NOT NULL
        ORDER BY {(best ? "score DESC, layer, kind COLLATE \"C\", neuron" : "score, layer DESC, kind COLLATE \"C\" DESC, neuron DESC")} LIMIT @count
        """, r => new NeuronScore(ReadUnit(r, 0), explainer, simulator, NeuronStatus.Done, r.IsDBNull(3) ? null : r.GetString(3), r.GetDouble(4)),
        ("explainer", explainer), ("simulator", simulator), ("count", count)));

    /// <summary>As in the SQLite store: times in round-trip text, written in UTC, so text order (COLLATE "C") is time order.</summary>
    public StoreActivity GetActivity(DateTimeOffset since, DateTimeOffset now) => Read(() =>
    {
        long at = now.ToUnixTimeMilliseconds();
        string from = StoreRows.FormatTime(since.ToUniversalTime());
        var workers = Query("SELECT owner, count(*), max(expires_at) FROM work_claims WHERE expires_at > @now GROUP BY owner ORDER BY owner COLLATE \"C\"",
            r => new ClaimHolder(r.GetString(0), (int)r.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))), ("now", at));
        var costs = Query("SELECT cost FROM ledger WHERE at COLLATE \"C\" >= @since AND NOT from_cache", r => StoreRows.ParseCost(r.GetString(0)), ("since", from));
        return new StoreActivity(workers, (int)Scalar<long>("SELECT count(*) FROM work_claims WHERE expires_at <= @now", ("now", at)),
            (int)Scalar<long>("SELECT count(*) FROM explanation_results WHERE updated_at COLLATE \"C\" >= @since", ("since", from)), costs.Count, costs.Sum());
    });

    public IReadOnlyDictionary<int, int> CountNeuronsByLayer() => Read(() =>
        Query("SELECT layer, count(*) FROM neurons GROUP BY layer ORDER BY layer", r => (r.GetInt32(0), (int)r.GetInt64(1))).ToDictionary(p => p.Item1, p => p.Item2));

    public IReadOnlyList<(int Layer, string Kind, int Count)> CountUnits() => Read(() =>
        Query("SELECT layer, kind, count(*) FROM neurons GROUP BY layer, kind ORDER BY layer, kind COLLATE \"C\"", r => (r.GetInt32(0), r.GetString(1), (int)r.GetInt64(2))));

    /// <summary>A result's columns, its per-method scores as one JSON array of [method, score, undefined_reason, failed, details] last.</summary>
    const string ResultColumns = """
        layer, kind, neuron, explainer, simulator, status, reason, results, chosen_index, updated_at, control, chosen_by,
        (SELECT coalesce(json_agg(json_build_array(method, score, undefined_reason, failed::INTEGER, details) ORDER BY method COLLATE "C"), '[]')::TEXT
         FROM explanation_scores WHERE result_id = explanation_results.id)
        """;

    public NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator) => Read(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results WHERE {UnitIs} AND explainer = @explainer AND simulator = @simulator",
        [.. Unit(id), ("explainer", explainer), ("simulator", simulator)]).SingleOrDefault());

    public IReadOnlyList<NeuronExplanationResult> GetExplanationResults(NeuronId id) => Read(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results WHERE {UnitIs} ORDER BY id", Unit(id)));

    public IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null) => Read(() => ReadResults(
        $"SELECT {ResultColumns} FROM explanation_results {LayerFilter(layer)} ORDER BY layer, kind COLLATE \"C\", neuron, id"));

    List<NeuronExplanationResult> ReadResults(string sql, params (string Name, object? Value)[] parameters) =>
        Query(sql, r => (Result: new NeuronExplanationResult(
            ReadUnit(r, 0), r.GetString(3), r.GetString(4), Enum.Parse<NeuronStatus>(r.GetString(5)),
            r.IsDBNull(6) ? null : r.GetString(6), null, r.IsDBNull(8) ? null : r.GetInt32(8), StoreRows.ParseTime(r.GetString(9)))
        {
            Control = StoreRows.ReadControl(r.IsDBNull(10) ? null : r.GetString(10), Location),
            ChosenBy = r.IsDBNull(11) ? null : r.GetString(11),
            Scores = StoreRows.ReadScores(r.GetString(12)),
        }, Blob: r.IsDBNull(7) ? null : (byte[])r.GetValue(7)), parameters)
        .Select(row => row.Blob is null ? row.Result : row.Result with
        {
            Results = Damaged("explanation_results", () => StoreDocuments.DecodeResults(row.Result.Neuron, row.Blob, ExcerptsOf(row.Result.Neuron), this)),
        })
        .ToList();

    public IReadOnlyList<NeuronScore> ListScores(int? layer = null) => Read(() => Query($"""
        SELECT layer, kind, neuron, explainer, simulator, status, chosen_explanation, score, control FROM explanation_results
        {LayerFilter(layer)} ORDER BY layer, kind COLLATE "C", neuron, id
        """,
        r => new NeuronScore(ReadUnit(r, 0), r.GetString(3), r.GetString(4), Enum.Parse<NeuronStatus>(r.GetString(5)),
            r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetDouble(7)) { Control = StoreRows.ReadControl(r.IsDBNull(8) ? null : r.GetString(8), Location) }));

    public IReadOnlyList<MethodScoreRow> ListMethodScores(int? layer = null) => Read(() => Query($"""
        SELECT r.layer, r.kind, r.neuron, r.explainer, r.simulator, r.control, s.method, s.score, s.undefined_reason, s.failed
        FROM explanation_scores s JOIN explanation_results r ON r.id = s.result_id
        {LayerFilter(layer).Replace("layer", "r.layer", StringComparison.Ordinal)} ORDER BY r.layer, r.kind COLLATE "C", r.neuron, r.id, s.method COLLATE "C"
        """,
        r => new MethodScoreRow(ReadUnit(r, 0), r.GetString(3), r.GetString(4), StoreRows.ReadControl(r.IsDBNull(5) ? null : r.GetString(5), Location),
            new MethodScore(r.GetString(6), r.IsDBNull(7) ? null : r.GetDouble(7), r.IsDBNull(8) ? null : r.GetString(8)) { Failed = r.GetBoolean(9) })));

    public bool TryClaim(WorkClaim claim, DateTimeOffset now)
    {
        bool claimed = false;
        Write(() => claimed = Query("""
            INSERT INTO work_claims AS c (layer, kind, neuron, explainer, simulator, owner, expires_at) VALUES (@layer, @kind, @neuron, @explainer, @simulator, @owner, @until)
            ON CONFLICT (layer, kind, neuron, explainer, simulator) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE c.owner = excluded.owner OR c.expires_at <= @now
            RETURNING owner
            """, r => r.GetString(0), [.. ClaimKey(claim), ("owner", claim.Owner), ("until", claim.Until.ToUnixTimeMilliseconds()),
                ("now", now.ToUnixTimeMilliseconds())]).Count == 1);
        return claimed;
    }

    /// <summary>
    /// The neurons' registry rows are locked FOR UPDATE SKIP LOCKED for the claim's transaction, so a worker claiming the
    /// same neurons at that moment passes over them (and claims others) rather than waiting on this one's commit.
    /// </summary>
    public IReadOnlyList<NeuronId> TryClaimBatch(IReadOnlyList<NeuronId> neurons, string explainer, string simulator, string owner, DateTimeOffset until, DateTimeOffset now)
    {
        if (neurons.Count == 0) return [];
        List<NeuronId> claimed = [];
        Write(() =>
        {
            var keys = neurons.Select(n => Unit(n, forWrite: true)).ToArray();
            int[] layers = [.. keys.Select(k => (int)k[0].Value!)], indices = [.. neurons.Select(n => n.NeuronIndex)];
            string[] kinds = [.. neurons.Select(n => n.KindKey)];
            // A unit is claimable only through its registry row: register any the store does not know yet.
            Execute("INSERT INTO neurons (layer, kind, neuron) SELECT * FROM unnest(@layers, @kinds, @neurons) ON CONFLICT DO NOTHING",
                ("layers", layers), ("kinds", kinds), ("neurons", indices));
            claimed = Query("""
                WITH free AS (
                    SELECT n.layer, n.kind, n.neuron FROM neurons n JOIN unnest(@layers, @kinds, @neurons) AS w(layer, kind, neuron) USING (layer, kind, neuron)
                    ORDER BY n.layer, n.kind, n.neuron FOR UPDATE OF n SKIP LOCKED)
                INSERT INTO work_claims AS c (layer, kind, neuron, explainer, simulator, owner, expires_at)
                SELECT layer, kind, neuron, @explainer, @simulator, @owner, @until FROM free
                ON CONFLICT (layer, kind, neuron, explainer, simulator) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                    WHERE c.owner = excluded.owner OR c.expires_at <= @now
                RETURNING layer, kind, neuron
                """, r => ReadUnit(r, 0), ("layers", layers), ("kinds", kinds), ("neurons", indices), ("explainer", explainer), ("simulator", simulator),
                ("owner", owner), ("until", until.ToUnixTimeMilliseconds()), ("now", now.ToUnixTimeMilliseconds()));
        });
        return claimed;
    }

    public void RenewClaims(string owner, DateTimeOffset until) => Write(() =>
        Execute("UPDATE work_claims SET expires_at = @until WHERE owner = @owner", ("until", until.ToUnixTimeMilliseconds()), ("owner", owner)));

    public void ReleaseClaim(WorkClaim claim) => Write(() => Execute("""
        DELETE FROM work_claims WHERE layer = @layer AND kind = @kind AND neuron = @neuron AND explainer = @explainer AND simulator = @simulator AND owner = @owner
        """, [.. ClaimKey(claim), ("owner", claim.Owner)]));

    (string Name, object? Value)[] ClaimKey(WorkClaim claim) => [.. Unit(claim.Neuron, forWrite: true), ("explainer", claim.Explainer), ("simulator", claim.Simulator)];

    public string? GetProtocol() => Read(() => Query("SELECT protocol FROM explanation_protocol WHERE id = 1", r => r.GetString(0)).SingleOrDefault());

    public string RecordProtocol(string protocol)
    {
        Write(() => Execute("INSERT INTO explanation_protocol (id, protocol, recorded_at) VALUES (1, @protocol, @at) ON CONFLICT (id) DO NOTHING",
            ("protocol", protocol), ("at", StoreRows.FormatTime(DateTimeOffset.UtcNow))));
        return GetProtocol()!;
    }

    public IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit, string? kind = null)
    {
        StoreRows.CheckKindFilter(kind);
        // Words are letters and digits only, so they are safe inside to_tsquery; all must match, the last as a prefix.
        var words = StoreRows.SearchWords(query);
        if (words.Count == 0 || limit <= 0) return [];
        string match = string.Join(" & ", words.Take(words.Count - 1).Append(words[^1] + ":*"));
        // As in the SQLite store, only the first MaxRankedMatches matches (in store order) are ranked. The rank is
        // negated so that, as with SQLite's bm25, lower is better.
        return Read(() => Query("""
            WITH q AS (SELECT to_tsquery('english', @query) AS q),
            matches AS (SELECT s.id, s.layer, s.kind, s.neuron, s.explanation, s.document FROM explanation_search s, q WHERE s.document @@ q.q
                AND (@kind::TEXT IS NULL OR s.kind = @kind OR (@kind = 'sae' AND s.kind LIKE 'sae:%')) LIMIT @ranked),
            best AS (SELECT m.*, ts_rank(m.document, q.q) AS rank FROM matches m, q ORDER BY rank DESC, m.id LIMIT @limit)
            SELECT layer, kind, neuron, explanation, ts_headline('english', explanation, q.q, @options), -rank FROM best, q ORDER BY rank DESC, id
            """,
            r => (ReadUnit(r, 0), r.GetString(3), r.GetString(4), (double)r.GetFloat(5)),
            ("query", match), ("kind", kind), ("ranked", StoreRows.MaxRankedMatches), ("limit", limit),
            ("options", $"StartSel={SearchHighlight.Open}, StopSel={SearchHighlight.Close}, HighlightAll=true")));
    }

    public LlmCacheEntry? GetCachedResponse(string key) => Read(() => Query(
        "SELECT key, model, request, response, created_at FROM llm_cache WHERE key = @key",
        r => new LlmCacheEntry(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), StoreRows.ParseTime(r.GetString(4))),
        ("key", key)).SingleOrDefault());

    public void AddLedgerEntry(LedgerEntry entry, LlmCacheEntry? answer = null, CallHold? held = null) => Write(() =>
    {
        if (answer is not null) PutCachedResponse(answer);
        if (held is not null) EndCall(held.Key, held.Owner);
        if (held?.Reservation is { } reservation) EndReservation(reservation);
        var unit = entry.Neuron is { } neuron ? Unit(neuron, forWrite: true) : [("layer", null), ("kind", null), ("neuron", null)];
        Execute("""
            INSERT INTO ledger (layer, kind, neuron, model, purpose, prompt_tokens, completion_tokens, cost, from_cache, at, cached_tokens)
            VALUES (@layer, @kind, @neuron, @model, @purpose, @prompt, @completion, @cost, @cached, @at, @cached_tokens)
            """, [("cached_tokens", entry.CachedPromptTokens), .. unit, ("model", entry.Model),
            ("purpose", entry.Purpose), ("prompt", entry.PromptTokens), ("completion", entry.CompletionTokens),
            ("cost", entry.Cost.ToString(CultureInfo.InvariantCulture)), ("cached", entry.FromCache), ("at", StoreRows.FormatTime(entry.At))]);
        if (entry.Cost != 0)
            Execute("UPDATE llm_budget SET spent = @spent WHERE id = 1", ("spent", (LockBudget().Spent + entry.Cost).ToString(CultureInfo.InvariantCulture)));
    });

    void PutCachedResponse(LlmCacheEntry entry) => Execute("""
        INSERT INTO llm_cache (key, model, request, response, created_at) VALUES (@key, @model, @request, @response, @at)
        ON CONFLICT (key) DO UPDATE SET model = excluded.model, request = excluded.request, response = excluded.response, created_at = excluded.created_at
        """, ("key", entry.Key), ("model", entry.Model), ("request", entry.Request), ("response", entry.Response), ("at", StoreRows.FormatTime(entry.CreatedAt)));

    /// <summary>The budget row is locked FOR UPDATE, so the reservations and ledger entries of all workers take turns on it.</summary>
    public string? TryReserveBudget(decimal amount, decimal maxCost, DateTimeOffset until, DateTimeOffset now)
    {
        string? granted = null;
        Write(() =>
        {
            var (spent, _) = LockBudget();
            Execute("DELETE FROM llm_reservations WHERE expires_at <= @now", ("now", now.ToUnixTimeMilliseconds()));
            Execute("UPDATE llm_budget SET max_cost = @max WHERE id = 1", ("max", maxCost.ToString(CultureInfo.InvariantCulture)));
            decimal reserved = Query("SELECT amount FROM llm_reservations", r => StoreRows.ParseCost(r.GetString(0))).Sum();
            if (spent + reserved + amount > maxCost) return;
            granted = Guid.NewGuid().ToString("N");
            Execute("INSERT INTO llm_reservations (id, amount, expires_at) VALUES (@id, @amount, @until)",
                ("id", granted), ("amount", amount.ToString(CultureInfo.InvariantCulture)), ("until", until.ToUnixTimeMilliseconds()));
        });
        return granted;
    }

    public CallClaim TryClaimCall(string key, string owner, DateTimeOffset until, DateTimeOffset now, bool unlessCached = false)
    {
        var claim = CallClaim.HeldElsewhere;
        Write(() =>
        {
            if (Query("""
                INSERT INTO llm_calls_in_flight AS c (key, owner, expires_at) VALUES (@key, @owner, @until)
                ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                    WHERE c.owner = excluded.owner OR c.expires_at <= @now
                RETURNING owner
                """, r => r.GetString(0), ("key", key), ("owner", owner), ("until", until.ToUnixTimeMilliseconds()), ("now", now.ToUnixTimeMilliseconds())).Count == 0)
                return;
            claim = CallClaim.Claimed;
            // Looked for after the mark is taken: each statement of a READ COMMITTED transaction sees what committed before it,
            // so an answer cached (and its mark ended) by another process just before the insert is seen here. Looked for
            // first, it was missed, and the call was paid twice (the fleet test, once in a run).
            if (unlessCached && Query("SELECT 1 FROM llm_cache WHERE key = @key", r => r.GetInt32(0), ("key", key)).Count > 0)
            {
                EndCall(key, owner);
                claim = CallClaim.Cached;
            }
        });
        return claim;
    }

    public void RenewCalls(string owner, DateTimeOffset until) =>
        Write(() => Execute("UPDATE llm_calls_in_flight SET expires_at = @until WHERE owner = @owner", ("until", until.ToUnixTimeMilliseconds()), ("owner", owner)));

    public void ReleaseCall(string key, string owner) => Write(() => EndCall(key, owner));

    void EndCall(string key, string owner) =>
        Execute("DELETE FROM llm_calls_in_flight WHERE key = @key AND owner = @owner", ("key", key), ("owner", owner));

    public void ReleaseBudget(string reservation) => Write(() => EndReservation(reservation));

    void EndReservation(string reservation) => Execute("DELETE FROM llm_reservations WHERE id = @id", ("id", reservation));

    public LlmBudget GetBudget(DateTimeOffset now) => Read(() =>
    {
        var (spent, max) = Query("SELECT spent, max_cost FROM llm_budget WHERE id = 1",
            r => (StoreRows.ParseCost(r.GetString(0)), r.IsDBNull(1) ? (decimal?)null : StoreRows.ParseCost(r.GetString(1)))).Single();
        decimal reserved = Query("SELECT amount FROM llm_reservations WHERE expires_at > @now", r => StoreRows.ParseCost(r.GetString(0)),
            ("now", now.ToUnixTimeMilliseconds())).Sum();
        return new LlmBudget(spent, max, reserved);
    });

    (decimal Spent, decimal? Max) LockBudget() => Query("SELECT spent, max_cost FROM llm_budget WHERE id = 1 FOR UPDATE",
        r => (StoreRows.ParseCost(r.GetString(0)), r.IsDBNull(1) ? (decimal?)null : StoreRows.ParseCost(r.GetString(1)))).Single();

    public IReadOnlyList<LedgerEntry> ListLedger() => Read(() => Query(
        "SELECT layer, kind, neuron, model, purpose, prompt_tokens, completion_tokens, cost, from_cache, at, cached_tokens FROM ledger ORDER BY id",
        r => new LedgerEntry(r.IsDBNull(0) ? null : ReadUnit(r, 0), r.GetString(3), r.GetString(4),
            r.GetInt32(5), r.GetInt32(6), decimal.Parse(r.GetString(7), CultureInfo.InvariantCulture), r.GetBoolean(8), StoreRows.ParseTime(r.GetString(9)))
        { CachedPromptTokens = r.GetInt32(10) }));

    public void Dispose() => source.Dispose();

    /// <summary>A literal filter (the layer is an int), as in the SQLite store.</summary>
    static string LayerFilter(int? layer) => layer is int l ? $"WHERE layer = {l}" : "";

    void RegisterNeuron(NeuronId id) =>
        Execute("INSERT INTO neurons (layer, kind, neuron) VALUES (@layer, @kind, @neuron) ON CONFLICT DO NOTHING", Unit(id, forWrite: true));

    /// <summary>Rows of a unit match on all three key columns (<c>@layer</c>, <c>@kind</c>, <c>@neuron</c> of <see cref="Unit"/>).</summary>
    const string UnitIs = "layer = @layer AND kind = @kind AND neuron = @neuron";

    /// <summary>The key parameters of a unit (see <see cref="StoreRows.UnitLayer"/> for an SAE latent's layer).</summary>
    (string Name, object? Value)[] Unit(NeuronId id, bool forWrite = false) =>
    [
        ("layer", StoreRows.UnitLayer(id, forWrite, () => Query("SELECT layer FROM neurons WHERE kind = @kind LIMIT 1", r => r.GetInt32(0), ("kind", id.KindKey)) is [int l] ? l : null)),
        ("kind", id.KindKey), ("neuron", id.NeuronIndex),
    ];

    /// <summary>The unit of a row whose columns <paramref name="first"/>.. are layer, kind and index.</summary>
    NeuronId ReadUnit(NpgsqlDataReader r, int first) => StoreRows.ReadUnit(r.GetString(first + 1), r.GetInt32(first), r.GetInt32(first + 2), Location);

    void PutDocument(string table, string column, NeuronId id, Func<CompactWriter> encode, string what)
    {
        byte[] blob = StoreRows.Checked(encode, $"the {what} of neuron {id}").ToCompressed();
        Write(() =>
        {
            RegisterNeuron(id);
            Execute($"""
                INSERT INTO {table} (layer, kind, neuron, {column}) VALUES (@layer, @kind, @neuron, @blob)
                ON CONFLICT (layer, kind, neuron) DO UPDATE SET {column} = excluded.{column}
                """, [.. Unit(id), ("blob", blob)]);
        });
    }

    T? GetDocument<T>(string table, string column, NeuronId id, Func<byte[], T> decode) where T : class => Read(() => Query(
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
}
