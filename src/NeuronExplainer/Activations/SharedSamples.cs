namespace NeuronExplainer.Activations;

/// <summary>
/// The uniform window samples that every neuron of the collection shares: the random sample, the quantile pool
/// and the windows whose maxima estimate the quantile boundaries. Each is a reservoir (Algorithm R) over window
/// indices whose draws are a counter-based hash of (seed, sampler, window index), so a resumed run draws what an
/// uninterrupted one does. Only window ids are kept here; the random and pool windows' activations are
/// recomputed after the pass, the maxima are kept per neuron by each <see cref="LayerSampler"/>.
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
    }

    /// <summary>Window ids of the random sample by slot (-1: empty).</summary>
    public long[] Random { get; }

    /// <summary>Window ids of the quantile pool by slot (-1: empty).</summary>
    public long[] Pool { get; }

    static long[] Empty(int capacity)
    {
        var ids = new long[capacity];
        ids.AsSpan().Fill(-1);
        return ids;
    }

    /// <summary>The maxima slot window <paramref name="item"/> (the item-th window seen) goes to, or -1.</summary>
    public int MaximaSlot(long item) => Slot(MaximaStream, MaximaSampleSize, item);

    /// <summary>Offers the item-th window (id <paramref name="window"/>) to the random sample and the pool.</summary>
    public void Add(TokenWindow window, long item, WindowTokens kept)
    {
        Offer(Random, RandomStream, window, item, kept);
        Offer(Pool, PoolStream, window, item, kept);
    }

    void Offer(long[] slots, ulong stream, TokenWindow window, long item, WindowTokens kept)
    {
        int slot = Slot(stream, slots.Length, item);
        if (slot < 0) return;
        if (slots[slot] >= 0) kept.Release(slots[slot]);
        kept.Retain(window);
        slots[slot] = window.Id;
    }

    int Slot(ulong stream, int capacity, long item) =>
        item < capacity ? (int)item
        : SampleHash.Below(seed, stream, 0, (ulong)item, item + 1) is var j && j < capacity ? (int)j : -1;

    /// <summary>Ids of the windows the records need recomputed for the random sample and the pool, ascending.</summary>
    public long[] WindowIds() => Random.Concat(Pool).Where(id => id >= 0).Distinct().Order().ToArray();

    public void Write(BinaryWriter writer)
    {
        Checkpointing.Write(writer, Random);
        Checkpointing.Write(writer, Pool);
    }

    public void Read(BinaryReader reader)
    {
        Checkpointing.Read<long>(reader, Random);
        Checkpointing.Read<long>(reader, Pool);
    }
}
