namespace NeuronExplainer.Storage;

/// <summary>
/// The SQLite store's schema as ordered migrations. Migration i (1-based) takes a store from
/// <c>PRAGMA user_version</c> i - 1 to i; append new ones, never edit a released one.
/// </summary>
static class StoreSchema
{
    /// <summary>Marks the file as ours ("NEXP"), so another program's SQLite file is not taken for a store.</summary>
    public const int ApplicationId = 0x4E455850;

    public static int LatestVersion => Migrations.Length;

    public static readonly string[] Migrations =
    [
        """
        -- The registry of every neuron the store knows, whatever is stored about it.
        CREATE TABLE neurons (
            layer INTEGER NOT NULL,
            neuron INTEGER NOT NULL,
            PRIMARY KEY (layer, neuron)) WITHOUT ROWID;

        CREATE TABLE manifest (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            model TEXT NOT NULL,
            corpus TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL);
        CREATE TABLE manifest_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL);

        -- JSON documents in OpenAI's format, gzip-compressed.
        CREATE TABLE neuron_records (
            layer INTEGER NOT NULL,
            neuron INTEGER NOT NULL,
            max_activation REAL,
            record BLOB NOT NULL,
            PRIMARY KEY (layer, neuron)) WITHOUT ROWID;
        CREATE TABLE activation_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL,
            PRIMARY KEY (layer, neuron)) WITHOUT ROWID;
        CREATE TABLE weight_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL,
            PRIMARY KEY (layer, neuron)) WITHOUT ROWID;
        CREATE TABLE connections (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, connections BLOB NOT NULL,
            PRIMARY KEY (layer, neuron)) WITHOUT ROWID;

        CREATE TABLE checkpoints (
            stage TEXT PRIMARY KEY,
            state BLOB NOT NULL,
            updated_at TEXT NOT NULL);

        -- One row per neuron and explainer/simulator pair; the chosen explanation and its score are
        -- copied out of the JSON so listings never parse it.
        CREATE TABLE explanation_results (
            id INTEGER PRIMARY KEY,
            layer INTEGER NOT NULL,
            neuron INTEGER NOT NULL,
            explainer TEXT NOT NULL,
            simulator TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            results BLOB,
            chosen_index INTEGER,
            chosen_explanation TEXT,
            score REAL,
            updated_at TEXT NOT NULL,
            UNIQUE (layer, neuron, explainer, simulator));
        CREATE INDEX explanation_results_by_score ON explanation_results (layer, score DESC);

        -- Every explanation text of every result, for full-text search.
        CREATE VIRTUAL TABLE explanation_search USING fts5(
            explanation,
            result_id UNINDEXED,
            layer UNINDEXED,
            neuron UNINDEXED,
            tokenize = 'porter unicode61');

        CREATE TABLE llm_cache (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            response TEXT NOT NULL,
            created_at TEXT NOT NULL);

        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            layer INTEGER,
            neuron INTEGER,
            model TEXT NOT NULL,
            purpose TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost TEXT NOT NULL,
            from_cache INTEGER NOT NULL,
            at TEXT NOT NULL);
        """,
        """
        -- Listings (ListScores) read only this index: explanation_results rows keep their large JSON
        -- before the score columns, so reading those from the table walks the JSON's overflow pages.
        CREATE INDEX explanation_results_listing
            ON explanation_results (layer, neuron, id, explainer, simulator, status, chosen_explanation, score);
        """,
        """
        -- Controls are marked by a column instead of an explainer-name prefix; earlier stores named the
        -- shuffled control's explainer "shuffled:NAME". The listing index covers the new column too.
        ALTER TABLE explanation_results ADD COLUMN control TEXT;
        UPDATE explanation_results SET control = 'shuffled' WHERE explainer LIKE 'shuffled:%';
        DROP INDEX explanation_results_listing;
        CREATE INDEX explanation_results_listing
            ON explanation_results (layer, neuron, id, explainer, simulator, status, chosen_explanation, score, control);
        """,
        """
        -- Scores by method (simulation correlation now; detection, fuzzing, ablation later) of a result's chosen
        -- explanation, and the rule that chose it. Results stored before have neither.
        ALTER TABLE explanation_results ADD COLUMN chosen_by TEXT;
        CREATE TABLE explanation_scores (
            result_id INTEGER NOT NULL,
            method TEXT NOT NULL,
            score REAL,
            undefined_reason TEXT,
            PRIMARY KEY (result_id, method)) WITHOUT ROWID;
        """,
        """
        -- Whether the collection the manifest describes has written all its records (a new manifest starts
        -- incomplete). Earlier stores had only the checkpoint to say so: theirs is complete when it has records
        -- and no collect checkpoint is pending (collect removes it after its last write).
        ALTER TABLE manifest ADD COLUMN collection_complete INTEGER NOT NULL DEFAULT 0;
        UPDATE manifest SET collection_complete =
            NOT EXISTS (SELECT 1 FROM checkpoints WHERE stage = 'collect') AND EXISTS (SELECT 1 FROM neuron_records);
        """,
        """
        -- Who works on a result now: a run claims (neuron, explainer, simulator) before working on it and releases
        -- it after storing the result, so overlapping runs never do the same work; a claim past expires_at (Unix
        -- milliseconds; a killed run's) may be taken over.
        CREATE TABLE work_claims (
            layer INTEGER NOT NULL,
            neuron INTEGER NOT NULL,
            explainer TEXT NOT NULL,
            simulator TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (layer, neuron, explainer, simulator)) WITHOUT ROWID;
        """,
        """
        -- Compact documents (StoreDocuments): token strings and token windows are stored once and shared; records keep
        -- window ids and float32 activations, results refer to their record's excerpts. The gzip-JSON tables are renamed
        -- legacy_*, converted by SqliteNeuronStore in this migration's transaction, then dropped. The new tables keep their
        -- rowid: a WITHOUT ROWID table keeps at most ~1 KB of a row in its b-tree page and wastes most of an overflow page
        -- per larger row.
        CREATE TABLE token_strings (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
        CREATE TABLE windows (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, tokens BLOB NOT NULL);
        ALTER TABLE neuron_records RENAME TO legacy_neuron_records;
        ALTER TABLE activation_based_tokens RENAME TO legacy_activation_based_tokens;
        ALTER TABLE weight_based_tokens RENAME TO legacy_weight_based_tokens;
        ALTER TABLE connections RENAME TO legacy_connections;
        CREATE TABLE neuron_records (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, max_activation REAL, record BLOB NOT NULL,
            PRIMARY KEY (layer, neuron));
        CREATE TABLE activation_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE weight_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE connections (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, connections BLOB NOT NULL, PRIMARY KEY (layer, neuron));
        """,
        """
        -- A scorer that could not score (an LLM reply unreadable after its retries) is stored failed with its reason in
        -- undefined_reason, and scored again by the next run; details holds what a method measured beyond its number
        -- (a JSON object, e.g. detection's counts, ablation's promoted tokens).
        ALTER TABLE explanation_scores ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE explanation_scores ADD COLUMN details TEXT;
        """,
        """
        -- The explanation protocol (ExplanationProtocol: which excerpts are explained and scored on) of the store's
        -- results, recorded by the first explain or score; kept apart from manifest_settings, which collect rewrites.
        CREATE TABLE explanation_protocol (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            protocol TEXT NOT NULL,
            recorded_at TEXT NOT NULL);
        """,
        """
        -- Prompt tokens the provider's prompt cache served (usage.prompt_tokens_details.cached_tokens), priced at the
        -- model's cached rate; 0 for calls ledgered before.
        ALTER TABLE ledger ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
        """,
        """
        -- Score aggregates per explainer/simulator pair and layer (controls left out), kept up to date by every result
        -- written, so a summary reads a few rows instead of every result. Scored means only Done results with a defined
        -- score; the histogram has 20 bins over [-1, 1].
        CREATE TABLE score_aggregates (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL,
            results INTEGER NOT NULL, done INTEGER NOT NULL, failed INTEGER NOT NULL, defined INTEGER NOT NULL, good INTEGER NOT NULL,
            score_sum REAL NOT NULL,
            PRIMARY KEY (explainer, simulator, layer)) WITHOUT ROWID;
        CREATE TABLE score_histogram (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, bin)) WITHOUT ROWID;
        INSERT INTO score_aggregates
            SELECT explainer, simulator, layer, count(*),
                sum(CASE WHEN status = 'Done' THEN 1 ELSE 0 END), sum(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END),
                sum(CASE WHEN status = 'Done' AND score IS NOT NULL THEN 1 ELSE 0 END),
                sum(CASE WHEN status = 'Done' AND score >= 0.8 THEN 1 ELSE 0 END),
                total(CASE WHEN status = 'Done' THEN score END)
            FROM explanation_results WHERE control IS NULL GROUP BY explainer, simulator, layer;
        INSERT INTO score_histogram
            SELECT explainer, simulator, layer, min(max(CAST((score + 1) * 10 AS INTEGER), 0), 19) AS bin, count(*)
            FROM explanation_results WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL GROUP BY explainer, simulator, layer, bin;
        -- The best and worst scored neurons of a pair, read from the ends of this index.
        CREATE INDEX explanation_results_by_pair_score ON explanation_results (explainer, simulator, score, layer, neuron)
            WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL;
        """,
        """
        -- Units of every kind (NeuronId.KindKey: 'neuron', 'head', 'sae:ID'): each table keyed by layer and index is keyed by
        -- layer, kind and index instead, so a head or SAE latent never collides with the neuron at the same layer and index.
        -- SQLite cannot change a primary key, so those tables are built anew and filled from the old ones; every row stored
        -- before is an MLP neuron. Result ids are kept (explanation_scores and the search refer to them).
        ALTER TABLE neurons RENAME TO old_neurons;
        CREATE TABLE neurons (
            layer INTEGER NOT NULL, kind TEXT NOT NULL, neuron INTEGER NOT NULL,
            PRIMARY KEY (layer, kind, neuron)) WITHOUT ROWID;
        INSERT INTO neurons (layer, kind, neuron) SELECT layer, 'neuron', neuron FROM old_neurons;
        DROP TABLE old_neurons;
        -- Finds the layer of an SAE from its id (a latent spelled sae:ID/I does not say it).
        CREATE INDEX neurons_by_kind ON neurons (kind, layer);

        ALTER TABLE neuron_records RENAME TO old_neuron_records;
        CREATE TABLE neuron_records (
            layer INTEGER NOT NULL, kind TEXT NOT NULL, neuron INTEGER NOT NULL, max_activation REAL, record BLOB NOT NULL,
            PRIMARY KEY (layer, kind, neuron));
        INSERT INTO neuron_records (layer, kind, neuron, max_activation, record)
            SELECT layer, 'neuron', neuron, max_activation, record FROM old_neuron_records;
        DROP TABLE old_neuron_records;
        ALTER TABLE activation_based_tokens RENAME TO old_activation_based_tokens;
        CREATE TABLE activation_based_tokens (
            layer INTEGER NOT NULL, kind TEXT NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL, PRIMARY KEY (layer, kind, neuron));
        INSERT INTO activation_based_tokens (layer, kind, neuron, summary) SELECT layer, 'neuron', neuron, summary FROM old_activation_based_tokens;
        DROP TABLE old_activation_based_tokens;
        ALTER TABLE weight_based_tokens RENAME TO old_weight_based_tokens;
        CREATE TABLE weight_based_tokens (
            layer INTEGER NOT NULL, kind TEXT NOT NULL, neuron INTEGER NOT NULL, summary BLOB NOT NULL, PRIMARY KEY (layer, kind, neuron));
        INSERT INTO weight_based_tokens (layer, kind, neuron, summary) SELECT layer, 'neuron', neuron, summary FROM old_weight_based_tokens;
        DROP TABLE old_weight_based_tokens;
        ALTER TABLE connections RENAME TO old_connections;
        CREATE TABLE connections (
            layer INTEGER NOT NULL, kind TEXT NOT NULL, neuron INTEGER NOT NULL, connections BLOB NOT NULL, PRIMARY KEY (layer, kind, neuron));
        INSERT INTO connections (layer, kind, neuron, connections) SELECT layer, 'neuron', neuron, connections FROM old_connections;
        DROP TABLE old_connections;

        DROP INDEX explanation_results_by_score;
        DROP INDEX explanation_results_listing;
        DROP INDEX explanation_results_by_pair_score;
        ALTER TABLE explanation_results RENAME TO old_explanation_results;
        CREATE TABLE explanation_results (
            id INTEGER PRIMARY KEY,
            layer INTEGER NOT NULL,
            kind TEXT NOT NULL,
            neuron INTEGER NOT NULL,
            explainer TEXT NOT NULL,
            simulator TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            results BLOB,
            chosen_index INTEGER,
            chosen_explanation TEXT,
            score REAL,
            updated_at TEXT NOT NULL,
            control TEXT,
            chosen_by TEXT,
            UNIQUE (layer, kind, neuron, explainer, simulator));
        INSERT INTO explanation_results (id, layer, kind, neuron, explainer, simulator, status, reason, results, chosen_index,
                chosen_explanation, score, updated_at, control, chosen_by)
            SELECT id, layer, 'neuron', neuron, explainer, simulator, status, reason, results, chosen_index,
                chosen_explanation, score, updated_at, control, chosen_by FROM old_explanation_results;
        DROP TABLE old_explanation_results;
        CREATE INDEX explanation_results_by_score ON explanation_results (layer, score DESC);
        CREATE INDEX explanation_results_listing
            ON explanation_results (layer, kind, neuron, id, explainer, simulator, status, chosen_explanation, score, control);
        CREATE INDEX explanation_results_by_pair_score ON explanation_results (explainer, simulator, score, layer, kind, neuron)
            WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL;

        ALTER TABLE explanation_search RENAME TO old_explanation_search;
        CREATE VIRTUAL TABLE explanation_search USING fts5(
            explanation,
            result_id UNINDEXED,
            layer UNINDEXED,
            kind UNINDEXED,
            neuron UNINDEXED,
            tokenize = 'porter unicode61');
        INSERT INTO explanation_search (rowid, explanation, result_id, layer, kind, neuron)
            SELECT rowid, explanation, result_id, layer, 'neuron', neuron FROM old_explanation_search;
        DROP TABLE old_explanation_search;

        -- A ledger row's unit (null with its layer and index when a call was for no unit).
        ALTER TABLE ledger ADD COLUMN kind TEXT;
        UPDATE ledger SET kind = 'neuron' WHERE layer IS NOT NULL;

        ALTER TABLE work_claims RENAME TO old_work_claims;
        CREATE TABLE work_claims (
            layer INTEGER NOT NULL,
            kind TEXT NOT NULL,
            neuron INTEGER NOT NULL,
            explainer TEXT NOT NULL,
            simulator TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (layer, kind, neuron, explainer, simulator)) WITHOUT ROWID;
        INSERT INTO work_claims (layer, kind, neuron, explainer, simulator, owner, expires_at)
            SELECT layer, 'neuron', neuron, explainer, simulator, owner, expires_at FROM old_work_claims;
        DROP TABLE old_work_claims;

        -- Aggregates per pair, layer and unit kind: a summary states which kind a layer's scores are of.
        ALTER TABLE score_aggregates RENAME TO old_score_aggregates;
        CREATE TABLE score_aggregates (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, kind TEXT NOT NULL,
            results INTEGER NOT NULL, done INTEGER NOT NULL, failed INTEGER NOT NULL, defined INTEGER NOT NULL, good INTEGER NOT NULL,
            score_sum REAL NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, kind)) WITHOUT ROWID;
        INSERT INTO score_aggregates SELECT explainer, simulator, layer, 'neuron', results, done, failed, defined, good, score_sum
            FROM old_score_aggregates;
        DROP TABLE old_score_aggregates;
        ALTER TABLE score_histogram RENAME TO old_score_histogram;
        CREATE TABLE score_histogram (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, kind TEXT NOT NULL, bin INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, kind, bin)) WITHOUT ROWID;
        INSERT INTO score_histogram SELECT explainer, simulator, layer, 'neuron', bin, count FROM old_score_histogram;
        DROP TABLE old_score_histogram;
        """,
        """
        -- A collection split into corpus shards (collect --corpus-shard I/N): each shard that has written its final state, and
        -- the one claim of the merge, taken in the same transaction as the last shard's row, so it is taken exactly once, by
        -- the shard named (which takes it again when it runs again, to finish a merge it was stopped in).
        CREATE TABLE collection_shards (
            shard INTEGER PRIMARY KEY,
            shards INTEGER NOT NULL,
            finished_at TEXT NOT NULL);
        CREATE TABLE collection_merge (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            shard INTEGER NOT NULL,
            claimed_at TEXT NOT NULL);
        """,
        """
        -- The LLM budget every process on the store shares: what the store's paid calls cost in all (a decimal, kept up to
        -- date by every ledger entry; the ledger before is summed here as REAL, so to about 1e-10 dollars), the last
        -- budget a run gave, and the worst-case costs reserved by calls in flight (one lapses at expires_at, Unix ms).
        CREATE TABLE llm_budget (id INTEGER PRIMARY KEY CHECK (id = 1), spent TEXT NOT NULL, max_cost TEXT);
        INSERT INTO llm_budget (id, spent) SELECT 1, printf('%.10f', total(CAST(cost AS REAL))) FROM ledger;
        CREATE TABLE llm_reservations (id TEXT PRIMARY KEY, amount TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
        -- The requests (by cache key) some process is sending now, so another waits for its answer instead of paying again.
        CREATE TABLE llm_calls_in_flight (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
        """,
        """
        -- A result's search rows take rowids result_id * 4096 + i (its i-th explanation): rewriting a result deletes them by
        -- rowid range, where deleting by the UNINDEXED result_id column scanned the whole index (10 ms a write at 19,200 units).
        ALTER TABLE explanation_search RENAME TO old_explanation_search;
        CREATE VIRTUAL TABLE explanation_search USING fts5(
            explanation,
            layer UNINDEXED,
            kind UNINDEXED,
            neuron UNINDEXED,
            tokenize = 'porter unicode61');
        INSERT INTO explanation_search (rowid, explanation, layer, kind, neuron)
            SELECT result_id * 4096 + row_number() OVER (PARTITION BY result_id ORDER BY rowid) - 1, explanation, layer, kind, neuron
            FROM old_explanation_search;
        DROP TABLE old_explanation_search;
        """,
        """
        -- Per-method score totals per pair, layer, unit kind and method, controls apart, kept by every result write as
        -- score_aggregates are: a summary of the methods reads a few rows per layer instead of every method score in the store.
        -- Defined: not failed and with a value; good: defined and at least 0.8.
        CREATE TABLE method_aggregates (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, kind TEXT NOT NULL, method TEXT NOT NULL,
            control INTEGER NOT NULL, scores INTEGER NOT NULL, failed INTEGER NOT NULL, defined INTEGER NOT NULL, good INTEGER NOT NULL,
            score_sum REAL NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, kind, method, control)) WITHOUT ROWID;
        INSERT INTO method_aggregates
            SELECT r.explainer, r.simulator, r.layer, r.kind, s.method, r.control IS NOT NULL, count(*), sum(s.failed <> 0),
                sum(s.failed = 0 AND s.score IS NOT NULL), sum(s.failed = 0 AND s.score >= 0.8), total(CASE WHEN s.failed = 0 THEN s.score END)
            FROM explanation_scores s JOIN explanation_results r ON r.id = s.result_id
            GROUP BY r.explainer, r.simulator, r.layer, r.kind, s.method, r.control IS NOT NULL;
        """,
    ];
}
