namespace NeuronExplainer.Activations;

/// <summary>
/// The uniform window samples that every neuron of the collection shares: the random sample, the quantile pool
/// and the windows whose maxima estimate the quantile boundaries. Each is a reservoir (Algorithm R) over window
/// indices whose draws are a counter-based hash of (seed, sampler, window index), so a resumed run draws what an
/// uninterrupted one does. Only window ids are kept here; the random and pool windows' activations are
/// recomputed after the pass, the maxima are kept per neuron by each <see cref="LayerSampler"/>.
/// Whether item j lands in a slot depends on j alone, so a slot ends holding the latest item that chose it: each slot
/// also keeps that item's number, and the samples of corpus shards (which number items as the whole pass does) merge
/// by taking, slot by slot, the later item, which is exactly the sample one pass over the whole corpus draws.
/// </summary>
sealed class SharedSamples
{
    /// <summary>Windows whose per-neuron maxima estimate the quantile boundaries.</summary>
    public const int MaximaSampleSize = 1024;

    const ulong RandomStream = 1, PoolStream = 2, MaximaStream = 3;

    readonly ulong seed;

    public SharedSamples(CollectionSettings settings)
    {
        seed = settings.Seed;
        Random = Empty(settings.RandomSamples);
        Pool = Empty(settings.QuantilePoolSize);
        RandomItems = Empty(settings.RandomSamples);
        PoolItems = Empty(settings.QuantilePoolSize);
        MaximaItems = Empty(MaximaSampleSize);
    }

    /// <summary>Window ids of the random sample by slot (-1: empty).</summary>
    public long[] Random { get; }

    /// <summary>Window ids of the quantile pool by slot (-1: empty).</summary>
    public long[] Pool { get; }

    /// <summary>The item number of each slot's window (-1: empty), for <see cref="Merge"/>.</summary>
    long[] RandomItems { get; }
    long[] PoolItems { get; }
    long[] MaximaItems { get; }

    static long[] Empty(int capacity)
    {
        var ids = new long[capacity];
        ids.AsSpan().Fill(-1);
        return ids;
    }

    /// <summary>The maxima slot window <paramref name="item"/> (the item-th window seen) goes to, or -1.</summary>
    public int MaximaSlot(long item) => Slot(MaximaStream, MaximaSampleSize, item);

    /// <summary>Offers the item-th window (id <paramref name="window"/>) to the random sample, the pool and the maxima sample.</summary>
    public void Add(TokenWindow window, long item, WindowTokens kept)
    {
        Offer(Random, RandomItems, RandomStream, window, item, kept);
        Offer(Pool, PoolItems, PoolStream, window, item, kept);
        if (MaximaSlot(item) is var slot and >= 0) MaximaItems[slot] = item;
    }

    void Offer(long[] slots, long[] items, ulong stream, TokenWindow window, long item, WindowTokens kept)
    {
        int slot = Slot(stream, slots.Length, item);
        if (slot < 0) return;
        if (slots[slot] >= 0) kept.Release(slots[slot]);
        kept.Retain(window);
        slots[slot] = window.Id;
        items[slot] = item;
    }

    /// <summary>Whether <paramref name="other"/>'s maxima slot holds a later item than this one's (so its maxima win the merge).</summary>
    public bool LaterMaxima(SharedSamples other, int slot) => other.MaximaItems[slot] > MaximaItems[slot];

    /// <summary>
    /// Takes in another shard's samples: slot by slot the later item, its window's tokens adopted from
    /// <paramref name="otherKept"/>. Call after the layers' <see cref="LayerSampler.Merge"/>, which reads the maxima items.
    /// </summary>
    public void Merge(SharedSamples other, WindowTokens kept, WindowTokens otherKept)
    {
        foreach (var (slots, items, theirs, theirItems) in new[] { (Random, RandomItems, other.Random, other.RandomItems), (Pool, PoolItems, other.Pool, other.PoolItems) })
            for (int slot = 0; slot < slots.Length; slot++)
            {
                if (theirItems[slot] <= items[slot]) continue;
                if (slots[slot] >= 0) kept.Release(slots[slot]);
                kept.RetainFrom(otherKept, theirs[slot]);
                (slots[slot], items[slot]) = (theirs[slot], theirItems[slot]);
            }
        for (int slot = 0; slot < MaximaItems.Length; slot++) MaximaItems[slot] = Math.Max(MaximaItems[slot], other.MaximaItems[slot]);
    }

    int Slot(ulong stream, int capacity, long item) =>
        item < capacity ? (int)item
        : SampleHash.Below(seed, stream, 0, (ulong)item, item + 1) is var j && j < capacity ? (int)j : -1;

    /// <summary>Ids of the windows the records need recomputed for the random sample and the pool, ascending.</summary>
    public long[] WindowIds() => Random.Concat(Pool).Where(id => id >= 0).Distinct().Order().ToArray();

    public void Write(BinaryWriter writer)
    {
        foreach (var slots in new[] { Random, Pool, RandomItems, PoolItems, MaximaItems }) Checkpointing.Write(writer, slots);
    }

    public void Read(BinaryReader reader)
    {
        foreach (var slots in new[] { Random, Pool, RandomItems, PoolItems, MaximaItems }) Checkpointing.Read<long>(reader, slots);
    }
}
