using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>
/// Stores before schema 7 kept every document as gzip-compressed JSON. The migration that introduced compact documents
/// renames those tables legacy_*; this converts their rows (and the results in explanation_results) inside that
/// migration's transaction, so a store is converted whole or stays as it was, and drops them.
/// </summary>
public sealed partial class SqliteNeuronStore
{
    const int ConversionChunk = 256;

    /// <summary>Converts what legacy tables there are; false when there were none.</summary>
    bool ConvertLegacyDocuments()
    {
        if (Scalar<long>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'legacy_neuron_records'") == 0) return false;
        // The Puts below join the migration's transaction.
        inBatch = true;
        try
        {
            ConvertLegacyTables();
        }
        finally
        {
            inBatch = false;
        }
        return true;
    }

    void ConvertLegacyTables()
    {
        ConvertTable("legacy_neuron_records", "record", (id, blob) =>
        {
            var record = DecodeLegacy(blob, DatasetJson.Default.NeuronRecord, "neuron_records");
            if (record.NeuronId != id) throw new NeuronExplainerException($"{Location}: the record stored for neuron {id} is of neuron {record.NeuronId}");
            PutNeuronRecords([record]);
        });
        ConvertTable("legacy_activation_based_tokens", "summary", (id, blob) =>
            PutActivationBasedTokens(id, DecodeLegacy(blob, DatasetJson.Default.TokenLookupTableSummaryOfNeuron, "activation_based_tokens")));
        ConvertTable("legacy_weight_based_tokens", "summary", (id, blob) =>
            PutWeightBasedTokens(id, DecodeLegacy(blob, DatasetJson.Default.WeightBasedSummaryOfNeuron, "weight_based_tokens")));
        ConvertTable("legacy_connections", "connections", (id, blob) =>
            PutConnections(id, DecodeLegacy(blob, DatasetJson.Default.NeuronConnections, "connections")));
        for (long after = -1; ;)
        {
            var rows = Query("SELECT id, layer, neuron, results FROM explanation_results WHERE id > $after AND results IS NOT NULL ORDER BY id LIMIT $n",
                r => (Id: r.GetInt64(0), Neuron: new NeuronId(r.GetInt32(1), r.GetInt32(2)), Blob: (byte[])r.GetValue(3)), ("$after", after), ("$n", ConversionChunk));
            if (rows.Count == 0) break;
            foreach (var row in rows)
            {
                var results = DecodeLegacy(row.Blob, DatasetJson.Default.NeuronSimulationResults, "explanation_results");
                var excerpts = GetNeuronRecord(row.Neuron) is { } record ? StoreDocuments.Excerpts(record) : null;
                Execute("UPDATE explanation_results SET results = $results WHERE id = $id",
                    ("$results", StoreDocuments.EncodeResults(results, excerpts, this).ToCompressed()), ("$id", row.Id));
            }
            after = rows[^1].Id;
        }
        Execute("DROP TABLE legacy_neuron_records; DROP TABLE legacy_activation_based_tokens; DROP TABLE legacy_weight_based_tokens; DROP TABLE legacy_connections");
    }

    /// <summary>Feeds every row of a legacy table to <paramref name="convert"/>, a chunk at a time, so memory stays bounded.</summary>
    void ConvertTable(string table, string column, Action<NeuronId, byte[]> convert)
    {
        for (var (layer, neuron) = (-1L, -1L); ;)
        {
            var rows = Query($"SELECT layer, neuron, {column} FROM {table} WHERE (layer, neuron) > ($layer, $neuron) ORDER BY layer, neuron LIMIT $n",
                r => (Id: new NeuronId(r.GetInt32(0), r.GetInt32(1)), Blob: (byte[])r.GetValue(2)), ("$layer", layer), ("$neuron", neuron), ("$n", ConversionChunk));
            if (rows.Count == 0) return;
            foreach (var row in rows) convert(row.Id, row.Blob);
            (layer, neuron) = (rows[^1].Id.LayerIndex, rows[^1].Id.NeuronIndex);
        }
    }

    T DecodeLegacy<T>(byte[] blob, JsonTypeInfo<T> info, string table)
    {
        try
        {
            using var gzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
            return JsonSerializer.Deserialize(gzip, info) ?? throw new JsonException("document is null");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new NeuronExplainerException(
                $"{Location}: a document in table {table} is damaged ({e.Message}), so the store cannot be converted to schema {StoreSchema.LatestVersion}; it is left as it was", e);
        }
    }
}
