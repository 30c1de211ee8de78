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

/// <summary>Whether a store's records come from a collection that finished writing them.</summary>
public enum CollectionState
{
    /// <summary>No collection: the store is empty or its records were imported (each import is one transaction).</summary>
    None,
    /// <summary>A collection has started (its manifest is written) but not yet written every record.</summary>
    Incomplete,
    Complete,
}

/// <summary>The manifest/checkpoints role of a store: what a run was made from and the resumable state of its long stages.</summary>
public interface IRunStateStore
{
    RunManifest? GetManifest();
    /// <summary>Writes the manifest; a store's first manifest starts its collection as <see cref="CollectionState.Incomplete"/>.</summary>
    void PutManifest(RunManifest manifest);

    CollectionState GetCollectionState();
    /// <summary>Records that the collection of the manifest has written all its records.</summary>
    void MarkCollectionComplete();

    /// <summary>
    /// Records, in one transaction, that corpus shard <paramref name="shard"/> of <paramref name="shards"/> has saved its
    /// final state, and claims the merge when every shard has: true for exactly one shard of a collection, even when two
    /// finish at once (and again for that shard when it runs again, to finish a merge it was stopped in); false for the
    /// others. A shard count other than the one recorded is refused.
    /// </summary>
    bool FinishShard(int shard, int shards);

    /// <summary>Opaque resumable state of a long stage (e.g. collection), saved atomically.</summary>
    void PutCheckpoint(string stage, byte[] state);
    byte[]? GetCheckpoint(string stage);
    void DeleteCheckpoint(string stage);
}

/// <summary>Where a collection writes: its records, its manifest and its checkpoints.</summary>
public interface ICollectionOutput : INeuronRecordStore, IRunStateStore;

public static class CollectionOutputExtensions
{
    /// <summary>Refuses a store whose collection has not written all its records (a collect killed or still running).</summary>
    public static void EnsureCollectionComplete(this ICollectionOutput store)
    {
        if (store.GetCollectionState() == CollectionState.Incomplete)
            throw new NeuronExplainerException(
                $"store {store.Location} holds an incomplete collection (collect was stopped or is still running, so some of its records are missing); run collect again with the same options to finish it");
    }
}
