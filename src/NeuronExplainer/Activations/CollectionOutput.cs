namespace NeuronExplainer.Activations;

/// <summary>
/// The records role of a store: collected neuron records and what goes with them (token tables, weight-based
/// connections). Each Put lands whole or not at all.
/// </summary>
public interface INeuronRecordStore
{
    /// <summary>Where the store is, for error messages.</summary>
    string Location { get; }

    void PutNeuronRecords(IReadOnlyList<NeuronRecord> records);
    NeuronRecord? GetNeuronRecord(NeuronId id);
    IReadOnlyList<NeuronId> ListNeurons(int? layer = null);
    IReadOnlyList<int> ListLayers();

    void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table);
    TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id);
    void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary);
    WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id);
    void PutConnections(NeuronId id, NeuronConnections connections);
    NeuronConnections? GetConnections(NeuronId id);
}

/// <summary>The manifest/checkpoints role of a store: what a run was made from and the resumable state of its long stages.</summary>
public interface IRunStateStore
{
    RunManifest? GetManifest();
    void PutManifest(RunManifest manifest);

    /// <summary>Opaque resumable state of a long stage (e.g. collection), saved atomically.</summary>
    void PutCheckpoint(string stage, byte[] state);
    byte[]? GetCheckpoint(string stage);
    void DeleteCheckpoint(string stage);
}

/// <summary>Where a collection writes: its records, its manifest and its checkpoints.</summary>
public interface ICollectionOutput : INeuronRecordStore, IRunStateStore;
