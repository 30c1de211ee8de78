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
            case ValueForm.FastShortestFloat32:
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
        using (var deflate = new DeflateStream(output, CompressionLevel.Fastest)) deflate.Write(buffer.WrittenSpan);
        return output.ToArray();
    }
}

/// <summary>
/// How a list of doubles is stored. <see cref="FastShortestFloat32"/> and <see cref="ShortestFloat32"/> both keep floats whose
/// doubles are the floats' shortest decimals; the fast form reads them back by <see cref="ValueForms.FastShortest"/> (a few
/// multiplications, ~40 ns) and is chosen only when that gives every value's exact bits, else the other form parses each
/// float's shortest text (~0.7 µs a value, the cost of reading a record of 8,320 values in 6 ms).
/// </summary>
enum ValueForm : byte { Float32 = 0, ShortestFloat32 = 1, Float64 = 2, Dictionary = 3, FastShortestFloat32 = 4 }

static class ValueForms
{
    const int MaxDictionary = 255;

    /// <summary>The smallest form that gives back every value's exact bits.</summary>
    public static ValueForm Choose(IReadOnlyList<double> values, out List<double>? dictionary)
    {
        bool float32 = true, fast = true;
        int decimals = 0;
        for (int i = 0; i < values.Count && (float32 || fast); i++)
        {
            long bits = BitConverter.DoubleToInt64Bits(values[i]);
            float f = (float)values[i];
            if (float32 && BitConverter.DoubleToInt64Bits(f) != bits) float32 = false;
            if (fast && BitConverter.DoubleToInt64Bits(FastShortest(f, ref decimals)) != bits) fast = false;
        }
        // Only when the fast reading misses some value is each one checked the slow way.
        bool shortest = float32 || fast || values.All(v => float.IsFinite((float)v)
            && BitConverter.DoubleToInt64Bits(LayerSampler.ShortestDouble((float)v)) == BitConverter.DoubleToInt64Bits(v));
        int floatBytes = shortest ? 4 * values.Count : 8 * values.Count;
        dictionary = Distinct(values, Math.Min(MaxDictionary, floatBytes / 8));
        if (dictionary is not null && 1 + 8 * dictionary.Count + values.Count < floatBytes) return ValueForm.Dictionary;
        dictionary = null;
        return float32 ? ValueForm.Float32 : fast ? ValueForm.FastShortestFloat32 : shortest ? ValueForm.ShortestFloat32 : ValueForm.Float64;
    }

    static readonly double[] PowersOfTen = [.. Enumerable.Range(0, 23).Select(k => Math.Pow(10, k))];

    /// <summary>
    /// The double of the fewest decimals d / 10^k (k up to 22, where 10^k is exact) that rounds back to the float: the nearest
    /// integer to f·10^k, divided by 10^k (one correctly rounded division). For most floats this is the double of their
    /// shortest decimal, as <see cref="LayerSampler.ShortestDouble"/> makes it; an encoder uses it only after checking that
    /// it is, value by value. Pure arithmetic, so it gives the same bits wherever it runs.
    /// </summary>
    /// <param name="decimals">Where the search for k starts, and the k found. A list's values mostly have about as many
    /// decimals as the one before, so a reader passes the previous value's: two or three checks where a bisection took five
    /// or six. The start cannot change the result: a k that rounds back makes every larger one do so too (checked for every
    /// positive finite float).</param>
    public static double FastShortest(float f, ref int decimals)
    {
        if (f == 0 || !float.IsFinite(f)) return f;
        double x = f;
        // The largest k keeping |x| 10^k an exact integer candidate below 2^53, from the float's binary exponent.
        int exponent = ((BitConverter.SingleToInt32Bits(f) >> 23) & 0xFF) - 127;
        int top = Math.Min(PowersOfTen.Length - 1, (int)Math.Floor((52 - exponent - 1) * 0.30102999566398120));
        if (top < 0) return double.NaN;
        int k = Math.Clamp(decimals, 0, top);
        if (RoundsBack(x, f, k))
            while (k > 0 && RoundsBack(x, f, k - 1)) k--;
        else
            do
                if (++k > top) return double.NaN;
            while (!RoundsBack(x, f, k));
        decimals = k;
        return Math.Round(x * PowersOfTen[k]) / PowersOfTen[k];
    }

    static bool RoundsBack(double x, float f, int k)
    {
        double p = PowersOfTen[k], d = Math.Round(x * p);
        return d != 0 && Math.Abs(d) < 9007199254740992.0 && (float)(d / p) == f;
    }

    /// <summary>The distinct values (by bits) in first-seen order, or null when there are more than <paramref name="limit"/>.</summary>
    static List<double>? Distinct(IReadOnlyList<double> values, int limit)
    {
        var seen = Seen ??= [];
        seen.Clear();
        List<double>? distinct = null;
        foreach (double v in values)
        {
            if (!seen.Add(BitConverter.DoubleToInt64Bits(v))) continue;
            if (seen.Count > limit) return null;
            (distinct ??= []).Add(v);
        }
        return distinct ?? [];
    }

    /// <summary>Reused by each thread, since every list of every document is looked at.</summary>
    [ThreadStatic] static HashSet<long>? Seen;
}

/// <summary>Reads what <see cref="CompactWriter"/> wrote; a blob that ends early or holds an unknown tag is damaged.</summary>
/// <remarks>Reads the first <paramref name="length"/> bytes of <paramref name="bytes"/> (all of them when omitted).</remarks>
sealed class CompactReader(byte[] bytes, int length = -1)
{
    int position;
    readonly int end = length < 0 ? bytes.Length : length;

    /// <summary>Inflates a blob written by <see cref="CompactWriter.ToCompressed"/>.</summary>
    public static CompactReader Decompress(byte[] blob)
    {
        using var input = new DeflateStream(new MemoryStream(blob), CompressionMode.Decompress);
        // Read in place rather than copied out: a record's values barely deflate (33.7 KB from 32.5 in a bench store), and its
        // two copies were a tenth of what explain+score allocated. A quarter more than the blob fits such a document without
        // growing, and stays below the large object heap that a larger first guess landed in (each a costlier collection).
        using var output = new MemoryStream(blob.Length + blob.Length / 4 + 256);
        input.CopyTo(output);
        return new CompactReader(output.GetBuffer(), (int)output.Length);
    }

    public bool AtEnd => position == end;

    public byte Byte() => position < end ? bytes[position++] : throw Damaged("it ends early");

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
        return n <= (ulong)(end - position) * 8 + 8 ? (int)n : throw Damaged($"a count of {n} is more than its bytes can hold");
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
            case ValueForm.FastShortestFloat32:
            {
                var planes = Take(4 * n);
                Span<byte> one = stackalloc byte[4];
                int decimals = 0;
                for (int i = 0; i < n; i++)
                {
                    for (int b = 0; b < 4; b++) one[b] = planes[b * n + i];
                    float f = BinaryPrimitives.ReadSingleLittleEndian(one);
                    values[i] = form switch
                    {
                        ValueForm.Float32 => f,
                        ValueForm.FastShortestFloat32 => ValueForms.FastShortest(f, ref decimals),
                        _ => LayerSampler.ShortestDouble(f),
                    };
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
        if (n < 0 || n > end - position) throw Damaged("it ends early");
        var span = bytes.AsSpan(position, n);
        position += n;
        return span;
    }

    public static InvalidDataException Damaged(string why) => new($"the stored document is damaged: {why}");
}
