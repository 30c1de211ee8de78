namespace NeuronExplainer.Activations;

/// <summary>
/// The top-K windows of every neuron of a layer: for each slot the window id and its key (the neuron's max
/// activation on it), and, when the memory plan keeps them, that neuron's activations on the window. Without
/// them the activations are recomputed after the pass (<see cref="RecordPass"/>) into <see cref="Recomputed"/>.
/// One flat array per field keeps the state compact and cheap to checkpoint.
/// </summary>
sealed class WindowSlots
{
    readonly int neurons, capacity, seqLen;
    readonly long[] ids;
    readonly float[] keys;
    float[]? activations;

    public WindowSlots(int neurons, int capacity, int seqLen, bool keepActivations)
    {
        this.neurons = neurons;
        this.capacity = capacity;
        this.seqLen = seqLen;
        ids = new long[neurons * capacity];
        ids.AsSpan().Fill(-1);
        keys = new float[neurons * capacity];
        if (keepActivations) activations = new float[(long)neurons * capacity * seqLen];
    }

    public int Capacity => capacity;

    public bool KeepsActivations => activations is not null;

    public long Id(int neuron, int slot) => ids[neuron * capacity + slot];

    public float Key(int neuron, int slot) => keys[neuron * capacity + slot];

    /// <summary>The activations of a slot, <paramref name="length"/> tokens long, kept in the pass or recomputed.</summary>
    public Span<float> Activations(int neuron, int slot, int length) =>
        (activations ?? throw new InvalidOperationException("top-K activations are neither kept nor recomputed"))
        .AsSpan((int)((long)(neuron * capacity + slot) * seqLen), length);

    /// <summary>Makes room for the activations recomputed after the pass (the plan did not keep them).</summary>
    public void AllocateRecomputed() => activations ??= new float[(long)neurons * capacity * seqLen];

    /// <summary>Drops recomputed activations once the layer's records are written.</summary>
    public void ReleaseRecomputed(bool kept)
    {
        if (!kept) activations = null;
    }

    /// <summary>
    /// Puts a window into a slot (and, when kept, copies the neuron's column out of a [rows, width] hook
    /// buffer); the token table forgets the window it displaced.
    /// </summary>
    public void Store(int neuron, int slot, TokenWindow window, float key, ReadOnlySpan<float> hook, int firstRow, int width, WindowTokens tokens)
    {
        int at = neuron * capacity + slot;
        long displaced = ids[at];
        if (displaced >= 0) tokens.Release(displaced);
        tokens.Retain(window);
        ids[at] = window.Id;
        keys[at] = key;
        if (activations is null) return;
        var target = Activations(neuron, slot, window.Tokens.Length);
        for (int i = 0, index = firstRow * width + neuron; i < target.Length; i++, index += width) target[i] = hook[index];
    }

    /// <summary>Puts slot <paramref name="theirSlot"/> of <paramref name="other"/> (another shard's) into a slot of this one.</summary>
    public void StoreFrom(int neuron, int slot, WindowSlots other, int theirSlot, WindowTokens tokens, WindowTokens otherTokens)
    {
        int at = neuron * capacity + slot, from = neuron * capacity + theirSlot;
        if (ids[at] >= 0) tokens.Release(ids[at]);
        tokens.RetainFrom(otherTokens, other.ids[from]);
        ids[at] = other.ids[from];
        keys[at] = other.keys[from];
        if (activations is null) return;
        int length = otherTokens.Tokens(other.ids[from]).Length;
        other.Activations(neuron, theirSlot, length).CopyTo(Activations(neuron, slot, length));
    }

    /// <summary>The filled slots of a neuron.</summary>
    public IEnumerable<int> Filled(int neuron)
    {
        for (int slot = 0; slot < capacity; slot++)
            if (ids[neuron * capacity + slot] >= 0) yield return slot;
    }

    public void Write(BinaryWriter writer)
    {
        Checkpointing.Write(writer, ids);
        Checkpointing.Write(writer, keys);
        writer.Write(activations is not null);
        if (activations is not null) Checkpointing.Write(writer, activations);
    }

    public void Read(BinaryReader reader)
    {
        Checkpointing.Read<long>(reader, ids);
        Checkpointing.Read<float>(reader, keys);
        if (reader.ReadBoolean() != activations is not null)
            throw new NeuronExplainerException($"the collection checkpoint was written under a memory plan that kept top-K activations differently; collect with the same CollectionSettings.MemoryBudget, or {Collector.StartOverAdvice}");
        if (activations is not null) Checkpointing.Read<float>(reader, activations);
    }
}
