using System.Runtime.InteropServices;

namespace NeuronExplainer.Activations;

/// <summary>Raw array (de)serialisation for collection checkpoints, with length checks so a wrong file fails loudly.</summary>
static class Checkpointing
{
    /// <summary>Elements per write or read: a span's bytes must fit an int, and large arrays stream in pieces.</summary>
    const int Chunk = 1 << 20;

    public static void Write<T>(BinaryWriter writer, ReadOnlySpan<T> values) where T : unmanaged
    {
        writer.Write(values.Length);
        for (int start = 0; start < values.Length; start += Chunk)
            writer.Write(MemoryMarshal.AsBytes(values.Slice(start, Math.Min(Chunk, values.Length - start))));
    }

    public static void Write<T>(BinaryWriter writer, T[] values) where T : unmanaged => Write(writer, (ReadOnlySpan<T>)values);

    public static void Read<T>(BinaryReader reader, Span<T> into) where T : unmanaged
    {
        int length = reader.ReadInt32();
        if (length != into.Length)
            throw new NeuronExplainerException($"collection checkpoint holds an array of {length} values where {into.Length} were expected; {Collector.StartOverAdvice}");
        ReadValues(reader, into);
    }

    public static T[] ReadArray<T>(BinaryReader reader) where T : unmanaged
    {
        int length = reader.ReadInt32();
        if (length < 0 || length > 1 << 28)
            throw new NeuronExplainerException($"collection checkpoint holds an array length of {length}; {Collector.StartOverAdvice}");
        var values = new T[length];
        ReadValues(reader, values);
        return values;
    }

    static void ReadValues<T>(BinaryReader reader, Span<T> into) where T : unmanaged
    {
        try
        {
            // BinaryReader reads no further ahead than asked, so its stream continues exactly here.
            for (int start = 0; start < into.Length; start += Chunk)
                reader.BaseStream.ReadExactly(MemoryMarshal.AsBytes(into.Slice(start, Math.Min(Chunk, into.Length - start))));
        }
        catch (EndOfStreamException)
        {
            throw new NeuronExplainerException($"collection checkpoint is truncated; {Collector.StartOverAdvice}");
        }
    }
}
