using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Storage;

/// <summary>
/// The store's binary building blocks: LEB128 varints, UTF-8 strings and lists of doubles in the smallest exact form.
/// A list of doubles is kept as float32 when every value is one (exactly, or as the float's shortest decimal, which is
/// how collection writes activations), as a small dictionary when few values repeat (a simulator's 0..10 values and
/// their calibrated images), else as float64: every form reads back the same bits. Floats are stored byte plane by byte
/// plane, so the deflate that wraps every blob finds the repeated sign/exponent bytes.
/// </summary>
sealed class CompactWriter
{
    readonly ArrayBufferWriter<byte> buffer = new(4096);

    public void Byte(byte value) => buffer.Write([value]);

    public void Varint(ulong value)
    {
        Span<byte> bytes = stackalloc byte[10];
        int n = 0;
        while (value >= 0x80)
        {
            bytes[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        bytes[n++] = (byte)value;
        buffer.Write(bytes[..n]);
    }

    public void Count(int count) => Varint((ulong)count);

    /// <summary>A signed value, zigzag-coded so small negatives stay short.</summary>
    public void Signed(long value) => Varint((ulong)((value << 1) ^ (value >> 63)));

    public void Double(double value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer.GetSpan(8), BitConverter.DoubleToInt64Bits(value));
        buffer.Advance(8);
    }

    public void NullableDouble(double? value)
    {
        Byte(value is null ? (byte)0 : (byte)1);
        if (value is double v) Double(v);
    }

    /// <summary>A string or null: its UTF-8 length + 1 (0 for null), then the bytes.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Varint(0);
            return;
        }
        int length = Encoding.UTF8.GetByteCount(value);
        Varint((ulong)length + 1);
        Encoding.UTF8.GetBytes(value, buffer.GetSpan(length));
        buffer.Advance(length);
    }

    public void NullableValues(IReadOnlyList<double>? values)
    {
        Byte(values is null ? (byte)0 : (byte)1);
        if (values is not null) Values(values);
    }

    public void Values(IReadOnlyList<double> values)
    {
        Count(values.Count);
        if (values.Count == 0) return;
        var form = ValueForms.Choose(values, out var dictionary);
        Byte((byte)form);
        switch (form)
        {
            case ValueForm.Float32:
            case ValueForm.ShortestFloat32:
                Planes(values.Count, 4, (i, bytes) => BinaryPrimitives.WriteSingleLittleEndian(bytes, (float)values[i]));
                break;
            case ValueForm.Float64:
                Planes(values.Count, 8, (i, bytes) => BinaryPrimitives.WriteDoubleLittleEndian(bytes, values[i]));
                break;
            case ValueForm.Dictionary:
                Byte((byte)dictionary!.Count);
                var index = new Dictionary<long, byte>(dictionary.Count);
                foreach (double d in dictionary)
                {
                    index[BitConverter.DoubleToInt64Bits(d)] = (byte)index.Count;
                    Double(d);
                }
                var span = buffer.GetSpan(values.Count);
                for (int i = 0; i < values.Count; i++) span[i] = index[BitConverter.DoubleToInt64Bits(values[i])];
                buffer.Advance(values.Count);
                break;
        }
    }

    /// <summary>Byte b of every value, then byte b + 1 of every value, and so on.</summary>
    void Planes(int count, int width, Action<int, Span<byte>> write)
    {
        var span = buffer.GetSpan(count * width)[..(count * width)];
        Span<byte> one = stackalloc byte[8];
        for (int i = 0; i < count; i++)
        {
            write(i, one);
            for (int b = 0; b < width; b++) span[b * count + i] = one[b];
        }
        buffer.Advance(count * width);
    }

    public ReadOnlySpan<byte> Written => buffer.WrittenSpan;

    /// <summary>The bytes written so far, deflated.</summary>
    public byte[] ToCompressed()
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal)) deflate.Write(buffer.WrittenSpan);
        return output.ToArray();
    }
}

enum ValueForm : byte { Float32 = 0, ShortestFloat32 = 1, Float64 = 2, Dictionary = 3 }

static class ValueForms
{
    const int MaxDictionary = 255;

    /// <summary>The smallest form that gives back every value's exact bits.</summary>
    public static ValueForm Choose(IReadOnlyList<double> values, out List<double>? dictionary)
    {
        bool float32 = true, shortest = true;
        for (int i = 0; i < values.Count && (float32 || shortest); i++)
        {
            long bits = BitConverter.DoubleToInt64Bits(values[i]);
            float f = (float)values[i];
            if (float32 && BitConverter.DoubleToInt64Bits(f) != bits) float32 = false;
            if (!float32 && shortest && (!float.IsFinite(f) || BitConverter.DoubleToInt64Bits(LayerSampler.ShortestDouble(f)) != bits)) shortest = false;
        }
        int floatBytes = float32 || shortest ? 4 * values.Count : 8 * values.Count;
        dictionary = Distinct(values, Math.Min(MaxDictionary, floatBytes / 8));
        if (dictionary is not null && 1 + 8 * dictionary.Count + values.Count < floatBytes) return ValueForm.Dictionary;
        dictionary = null;
        return float32 ? ValueForm.Float32 : shortest ? ValueForm.ShortestFloat32 : ValueForm.Float64;
    }

    /// <summary>The distinct values (by bits) in first-seen order, or null when there are more than <paramref name="limit"/>.</summary>
    static List<double>? Distinct(IReadOnlyList<double> values, int limit)
    {
        var seen = new HashSet<long>();
        var distinct = new List<double>();
        foreach (double v in values)
        {
            if (!seen.Add(BitConverter.DoubleToInt64Bits(v))) continue;
            if (distinct.Count == limit) return null;
            distinct.Add(v);
        }
        return distinct;
    }
}

/// <summary>Reads what <see cref="CompactWriter"/> wrote; a blob that ends early or holds an unknown tag is damaged.</summary>
sealed class CompactReader(byte[] bytes)
{
    int position;

    /// <summary>Inflates a blob written by <see cref="CompactWriter.ToCompressed"/>.</summary>
    public static CompactReader Decompress(byte[] blob)
    {
        using var input = new DeflateStream(new MemoryStream(blob), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return new CompactReader(output.ToArray());
    }

    public bool AtEnd => position == bytes.Length;

    public byte Byte() => position < bytes.Length ? bytes[position++] : throw Damaged("it ends early");

    public ulong Varint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = Byte();
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw Damaged("a varint is longer than 10 bytes");
    }

    public int Count()
    {
        ulong n = Varint();
        return n <= (ulong)(bytes.Length - position) * 8 + 8 ? (int)n : throw Damaged($"a count of {n} is more than its bytes can hold");
    }

    public long Signed()
    {
        ulong v = Varint();
        return (long)(v >> 1) ^ -(long)(v & 1);
    }

    public double Double() => BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64LittleEndian(Take(8)));

    public double? NullableDouble() => Flag() ? Double() : null;

    public bool Flag() => Byte() switch
    {
        0 => false,
        1 => true,
        var other => throw Damaged($"a flag is {other}"),
    };

    public string? String()
    {
        ulong n = Varint();
        if (n == 0) return null;
        return Encoding.UTF8.GetString(Take(checked((int)(n - 1))));
    }

    public string RequiredString() => String() ?? throw Damaged("a required string is null");

    public double[]? NullableValues() => Flag() ? Values() : null;

    public double[] Values()
    {
        int n = Count();
        var values = new double[n];
        if (n == 0) return values;
        var form = (ValueForm)Byte();
        switch (form)
        {
            case ValueForm.Float32:
            case ValueForm.ShortestFloat32:
            {
                var planes = Take(4 * n);
                Span<byte> one = stackalloc byte[4];
                for (int i = 0; i < n; i++)
                {
                    for (int b = 0; b < 4; b++) one[b] = planes[b * n + i];
                    float f = BinaryPrimitives.ReadSingleLittleEndian(one);
                    values[i] = form == ValueForm.Float32 ? f : LayerSampler.ShortestDouble(f);
                }
                break;
            }
            case ValueForm.Float64:
            {
                var planes = Take(8 * n);
                Span<byte> one = stackalloc byte[8];
                for (int i = 0; i < n; i++)
                {
                    for (int b = 0; b < 8; b++) one[b] = planes[b * n + i];
                    values[i] = BinaryPrimitives.ReadDoubleLittleEndian(one);
                }
                break;
            }
            case ValueForm.Dictionary:
            {
                int k = Byte();
                var dictionary = new double[k];
                for (int j = 0; j < k; j++) dictionary[j] = Double();
                var index = Take(n);
                for (int i = 0; i < n; i++) values[i] = index[i] < k ? dictionary[index[i]] : throw Damaged($"a dictionary index {index[i]} is past its {k} values");
                break;
            }
            default:
                throw Damaged($"a list of values has the unknown form {(byte)form}");
        }
        return values;
    }

    ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > bytes.Length - position) throw Damaged("it ends early");
        var span = bytes.AsSpan(position, n);
        position += n;
        return span;
    }

    public static InvalidDataException Damaged(string why) => new($"the stored document is damaged: {why}");
}
