namespace NeuronExplainer.Storage;

/// <summary>
/// The PostgreSQL store's schema: migration i (1-based) takes a store from version i - 1 to i, the same versions and
/// meaning as <see cref="StoreSchema"/> (a store of version v holds the same tables and columns in both backends), so
/// every SQLite migration has its counterpart here. The version is kept in <c>store_schema</c>.
/// </summary>
static class PostgresSchema
{
    /// <summary>Marks the schema as ours, as SQLite's application_id does.</summary>
    public const string Application = "neuron-explainer";

    /// <summary>Run before the first migration: the table that says a schema is a store and of which version.</summary>
    public const string VersionTable = """
        CREATE TABLE store_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            application TEXT NOT NULL,
            version INTEGER NOT NULL);
        INSERT INTO store_schema (id, application, version) VALUES (1, 'neuron-explainer', 0);
        """;

    public static readonly string[] Migrations =
    [
        """
        CREATE TABLE neurons (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE manifest (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            model TEXT NOT NULL, corpus TEXT NOT NULL, tool_version TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE manifest_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE neuron_records (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, max_activation DOUBLE PRECISION, record BYTEA NOT NULL,
            PRIMARY KEY (layer, neuron));
        CREATE TABLE activation_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BYTEA NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE weight_based_tokens (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, summary BYTEA NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE connections (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, connections BYTEA NOT NULL, PRIMARY KEY (layer, neuron));
        CREATE TABLE checkpoints (stage TEXT PRIMARY KEY, state BYTEA NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE explanation_results (
            id BIGSERIAL PRIMARY KEY,
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, explainer TEXT NOT NULL, simulator TEXT NOT NULL,
            status TEXT NOT NULL, reason TEXT, results BYTEA, chosen_index INTEGER, chosen_explanation TEXT,
            score DOUBLE PRECISION, updated_at TEXT NOT NULL,
            UNIQUE (layer, neuron, explainer, simulator));
        CREATE INDEX explanation_results_by_score ON explanation_results (layer, score DESC);
        -- Full-text search: English stemming (as SQLite's porter tokenizer), a GIN index over the stored vector.
        CREATE TABLE explanation_search (
            id BIGSERIAL PRIMARY KEY,
            explanation TEXT NOT NULL,
            result_id BIGINT NOT NULL, layer INTEGER NOT NULL, neuron INTEGER NOT NULL,
            document TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', explanation)) STORED);
        CREATE INDEX explanation_search_document ON explanation_search USING GIN (document);
        CREATE INDEX explanation_search_result ON explanation_search (result_id);
        CREATE TABLE llm_cache (
            key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE ledger (
            id BIGSERIAL PRIMARY KEY, layer INTEGER, neuron INTEGER, model TEXT NOT NULL, purpose TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost TEXT NOT NULL, from_cache BOOLEAN NOT NULL,
            at TEXT NOT NULL);
        """,
        """
        CREATE INDEX explanation_results_listing ON explanation_results (layer, neuron, id);
        """,
        """
        ALTER TABLE explanation_results ADD COLUMN control TEXT;
        UPDATE explanation_results SET control = 'shuffled' WHERE explainer LIKE 'shuffled:%';
        """,
        """
        ALTER TABLE explanation_results ADD COLUMN chosen_by TEXT;
        CREATE TABLE explanation_scores (
            result_id BIGINT NOT NULL, method TEXT NOT NULL, score DOUBLE PRECISION, undefined_reason TEXT,
            PRIMARY KEY (result_id, method));
        """,
        """
        ALTER TABLE manifest ADD COLUMN collection_complete BOOLEAN NOT NULL DEFAULT FALSE;
        UPDATE manifest SET collection_complete =
            NOT EXISTS (SELECT 1 FROM checkpoints WHERE stage = 'collect') AND EXISTS (SELECT 1 FROM neuron_records);
        """,
        """
        CREATE TABLE work_claims (
            layer INTEGER NOT NULL, neuron INTEGER NOT NULL, explainer TEXT NOT NULL, simulator TEXT NOT NULL,
            owner TEXT NOT NULL, expires_at BIGINT NOT NULL,
            PRIMARY KEY (layer, neuron, explainer, simulator));
        """,
        """
        -- Compact documents. A PostgreSQL store never held the gzip-JSON documents of SQLite stores before version 7,
        -- so there is nothing to convert: the document tables of version 1 take compact documents from the start.
        -- Token strings as UTF-8 bytes: a token may be a control character such as U+0000, which TEXT cannot hold.
        CREATE TABLE token_strings (id SERIAL PRIMARY KEY, text BYTEA NOT NULL UNIQUE);
        CREATE TABLE windows (id BIGSERIAL PRIMARY KEY, hash BYTEA NOT NULL UNIQUE, tokens BYTEA NOT NULL);
        """,
        """
        ALTER TABLE explanation_scores ADD COLUMN failed BOOLEAN NOT NULL DEFAULT FALSE;
        ALTER TABLE explanation_scores ADD COLUMN details TEXT;
        """,
        """
        CREATE TABLE explanation_protocol (id INTEGER PRIMARY KEY CHECK (id = 1), protocol TEXT NOT NULL, recorded_at TEXT NOT NULL);
        """,
        """
        ALTER TABLE ledger ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
        """,
        """
        CREATE TABLE score_aggregates (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL,
            results INTEGER NOT NULL, done INTEGER NOT NULL, failed INTEGER NOT NULL, defined INTEGER NOT NULL, good INTEGER NOT NULL,
            score_sum DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (explainer, simulator, layer));
        CREATE TABLE score_histogram (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, bin));
        INSERT INTO score_aggregates
            SELECT explainer, simulator, layer, count(*),
                count(*) FILTER (WHERE status = 'Done'), count(*) FILTER (WHERE status = 'Failed'),
                count(*) FILTER (WHERE status = 'Done' AND score IS NOT NULL), count(*) FILTER (WHERE status = 'Done' AND score >= 0.8),
                coalesce(sum(score) FILTER (WHERE status = 'Done'), 0)
            FROM explanation_results WHERE control IS NULL GROUP BY explainer, simulator, layer;
        INSERT INTO score_histogram
            SELECT explainer, simulator, layer, least(greatest(floor((score + 1) * 10)::INTEGER, 0), 19) AS bin, count(*)
            FROM explanation_results WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL GROUP BY explainer, simulator, layer, bin;
        CREATE INDEX explanation_results_by_pair_score ON explanation_results (explainer, simulator, score, layer, neuron)
            WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL;
        """,
        """
        -- Units of every kind (NeuronId.KindKey: 'neuron', 'head', 'sae:ID'), as SQLite's version 12: every key by layer and
        -- index becomes layer, kind and index; every row stored before is an MLP neuron. PostgreSQL changes keys in place.
        ALTER TABLE neurons ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE neurons ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE neurons DROP CONSTRAINT neurons_pkey, ADD PRIMARY KEY (layer, kind, neuron);
        ALTER TABLE neuron_records ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE neuron_records ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE neuron_records DROP CONSTRAINT neuron_records_pkey, ADD PRIMARY KEY (layer, kind, neuron);
        ALTER TABLE activation_based_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE activation_based_tokens ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE activation_based_tokens DROP CONSTRAINT activation_based_tokens_pkey, ADD PRIMARY KEY (layer, kind, neuron);
        ALTER TABLE weight_based_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE weight_based_tokens ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE weight_based_tokens DROP CONSTRAINT weight_based_tokens_pkey, ADD PRIMARY KEY (layer, kind, neuron);
        ALTER TABLE connections ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE connections ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE connections DROP CONSTRAINT connections_pkey, ADD PRIMARY KEY (layer, kind, neuron);
        CREATE INDEX neurons_by_kind ON neurons (kind, layer);
        ALTER TABLE explanation_results ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE explanation_results ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE explanation_results DROP CONSTRAINT explanation_results_layer_neuron_explainer_simulator_key,
            ADD UNIQUE (layer, kind, neuron, explainer, simulator);
        DROP INDEX explanation_results_listing;
        CREATE INDEX explanation_results_listing ON explanation_results (layer, kind, neuron, id);
        DROP INDEX explanation_results_by_pair_score;
        CREATE INDEX explanation_results_by_pair_score ON explanation_results (explainer, simulator, score, layer, kind, neuron)
            WHERE control IS NULL AND status = 'Done' AND score IS NOT NULL;
        ALTER TABLE explanation_search ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE explanation_search ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE ledger ADD COLUMN kind TEXT;
        UPDATE ledger SET kind = 'neuron' WHERE layer IS NOT NULL;
        ALTER TABLE work_claims ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE work_claims ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE work_claims DROP CONSTRAINT work_claims_pkey, ADD PRIMARY KEY (layer, kind, neuron, explainer, simulator);
        ALTER TABLE score_aggregates ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE score_aggregates ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE score_aggregates DROP CONSTRAINT score_aggregates_pkey, ADD PRIMARY KEY (explainer, simulator, layer, kind);
        ALTER TABLE score_histogram ADD COLUMN kind TEXT NOT NULL DEFAULT 'neuron';
        ALTER TABLE score_histogram ALTER COLUMN kind DROP DEFAULT;
        ALTER TABLE score_histogram DROP CONSTRAINT score_histogram_pkey, ADD PRIMARY KEY (explainer, simulator, layer, kind, bin);
        """,
        """
        -- Corpus shards and the one claim of their merge, as SQLite's version 13.
        CREATE TABLE collection_shards (shard INTEGER PRIMARY KEY, shards INTEGER NOT NULL, finished_at TEXT NOT NULL);
        CREATE TABLE collection_merge (id INTEGER PRIMARY KEY CHECK (id = 1), shard INTEGER NOT NULL, claimed_at TEXT NOT NULL);
        """,
        """
        CREATE TABLE llm_budget (id INTEGER PRIMARY KEY CHECK (id = 1), spent TEXT NOT NULL, max_cost TEXT);
        INSERT INTO llm_budget (id, spent) SELECT 1, coalesce(sum(cost::NUMERIC), 0)::TEXT FROM ledger;
        CREATE TABLE llm_reservations (id TEXT PRIMARY KEY, amount TEXT NOT NULL, expires_at BIGINT NOT NULL);
        CREATE TABLE llm_calls_in_flight (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL);
        """,
        """
        -- Version 15 renumbers SQLite's search rows so a result's rows are found by rowid; here they are found through the
        -- index on result_id already, so nothing changes but the version.
        SELECT 1;
        """,
        """
        CREATE TABLE method_aggregates (
            explainer TEXT NOT NULL, simulator TEXT NOT NULL, layer INTEGER NOT NULL, kind TEXT NOT NULL, method TEXT NOT NULL,
            control BOOLEAN NOT NULL, scores INTEGER NOT NULL, failed INTEGER NOT NULL, defined INTEGER NOT NULL, good INTEGER NOT NULL,
            score_sum DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (explainer, simulator, layer, kind, method, control));
        INSERT INTO method_aggregates
            SELECT r.explainer, r.simulator, r.layer, r.kind, s.method, r.control IS NOT NULL, count(*), count(*) FILTER (WHERE s.failed),
                count(*) FILTER (WHERE NOT s.failed AND s.score IS NOT NULL), count(*) FILTER (WHERE NOT s.failed AND s.score >= 0.8),
                coalesce(sum(s.score) FILTER (WHERE NOT s.failed), 0)
            FROM explanation_scores s JOIN explanation_results r ON r.id = s.result_id
            GROUP BY r.explainer, r.simulator, r.layer, r.kind, s.method, r.control IS NOT NULL;
        """,
    ];
}
