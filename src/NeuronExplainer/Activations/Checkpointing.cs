using System.Runtime.InteropServices;

namespace NeuronExplainer.Activations;

/// <summary>Raw array (de)serialisation for collection checkpoints, with length checks so a wrong file fails loudly.</summary>
static class Checkpointing
{
    public static void Write<T>(BinaryWriter writer, ReadOnlySpan<T> values) where T : unmanaged
    {
        writer.Write(values.Length);
        writer.Write(MemoryMarshal.AsBytes(values));
    }

    public static void Write<T>(BinaryWriter writer, T[] values) where T : unmanaged => Write(writer, (ReadOnlySpan<T>)values);

    public static void Read<T>(BinaryReader reader, Span<T> into) where T : unmanaged
    {
        int length = reader.ReadInt32();
        if (length != into.Length)
            throw new NeuronExplainerException($"collection checkpoint holds an array of {length} values where {into.Length} were expected; run collect with --force to start over");
        var bytes = MemoryMarshal.AsBytes(into);
        if (reader.Read(bytes) != bytes.Length)
            throw new NeuronExplainerException("collection checkpoint is truncated; run collect with --force to start over");
    }

    public static T[] ReadArray<T>(BinaryReader reader) where T : unmanaged
    {
        int length = reader.ReadInt32();
        if (length < 0 || length > 1 << 28)
            throw new NeuronExplainerException($"collection checkpoint holds an array length of {length}; run collect with --force to start over");
        var values = new T[length];
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        if (reader.Read(bytes) != bytes.Length)
            throw new NeuronExplainerException("collection checkpoint is truncated; run collect with --force to start over");
        return values;
    }
}
