namespace NeuronExplainer.Activations;

/// <summary>
/// A fixed number of kept windows per neuron: for each, the window id, a key (its max activation)
/// and that neuron's activations on the window. One flat array per field keeps the state compact
/// and cheap to checkpoint.
/// </summary>
sealed class WindowSlots
{
    readonly int capacity, seqLen;
    readonly long[] ids;
    readonly float[] keys;
    readonly float[] activations;
    readonly int[] lengths;

    public WindowSlots(int neurons, int capacity, int seqLen)
    {
        this.capacity = capacity;
        this.seqLen = seqLen;
        ids = new long[neurons * capacity];
        ids.AsSpan().Fill(-1);
        keys = new float[neurons * capacity];
        activations = new float[neurons * capacity * seqLen];
        lengths = new int[neurons * capacity];
    }

    public int Capacity => capacity;

    public long Id(int neuron, int slot) => ids[neuron * capacity + slot];

    public float Key(int neuron, int slot) => keys[neuron * capacity + slot];

    public ReadOnlySpan<float> Activations(int neuron, int slot) =>
        activations.AsSpan((neuron * capacity + slot) * seqLen, lengths[neuron * capacity + slot]);

    /// <summary>
    /// Puts a window into a slot, copying the neuron's column out of a [rows, width] hook buffer;
    /// returns the id of the window it displaced, or -1.
    /// </summary>
    public long Store(int neuron, int slot, TokenWindow window, float key, ReadOnlySpan<float> hook, int firstRow, int width, WindowTokens tokens)
    {
        int at = neuron * capacity + slot;
        long displaced = ids[at];
        if (displaced >= 0) tokens.Release(displaced);
        tokens.Retain(window);
        ids[at] = window.Id;
        keys[at] = key;
        int length = window.Tokens.Length;
        lengths[at] = length;
        var target = activations.AsSpan(at * seqLen, length);
        for (int i = 0, index = firstRow * width + neuron; i < length; i++, index += width) target[i] = hook[index];
        return displaced;
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
        Checkpointing.Write(writer, activations);
        Checkpointing.Write(writer, lengths);
    }

    public void Read(BinaryReader reader)
    {
        Checkpointing.Read<long>(reader, ids);
        Checkpointing.Read<float>(reader, keys);
        Checkpointing.Read<float>(reader, activations);
        Checkpointing.Read<int>(reader, lengths);
    }
}
