using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace NeuronExplainer.Models.Checkpoints;

/// <summary>One tensor's entry in a safetensors header; offsets are relative to the data section.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>
/// A memory-mapped <c>.safetensors</c> file: 8-byte little-endian header length, a JSON header mapping tensor
/// names to dtype, shape and data offsets, then the raw data. The header is checked completely on open
/// (sizes, offsets, dtypes), so a truncated or corrupt file fails before any weight is read.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Bytes per element of the dtypes the format defines; only the float ones can be read as weights.</summary>
    private static readonly Dictionary<string, int> DTypeSizes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1,
        ["U64"] = 8, ["U32"] = 4, ["U16"] = 2, ["U8"] = 1, ["BOOL"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
    };

    private const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;
    private readonly long _dataLength;

    public string Path { get; }

    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    private SafeTensorsFile(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, byte* data, long dataLength, Dictionary<string, SafeTensorInfo> tensors)
    {
        Path = path;
        _file = file;
        _view = view;
        _data = data;
        _dataLength = dataLength;
        Tensors = tensors;
    }

    public static SafeTensorsFile Open(string path)
    {
        var length = new FileInfo(path) is { Exists: true } info
            ? info.Length
            : throw new NeuronExplainerException($"{path}: safetensors file not found");
        if (length < 8) throw new NeuronExplainerException($"{path}: file is {length} bytes, too short for a safetensors header (truncated?)");

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;
            var headerLength = BitConverter.ToInt64(new ReadOnlySpan<byte>(basePtr, 8)); // little-endian hosts only, as the format
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > length - 8)
                throw new NeuronExplainerException($"{path}: header length {headerLength} is beyond the file's {length} bytes (truncated or not a safetensors file)");
            var tensors = ParseHeader(path, new ReadOnlySpan<byte>(basePtr + 8, (int)headerLength), length - 8 - headerLength);
            return new SafeTensorsFile(path, file, view, basePtr + 8 + headerLength, length - 8 - headerLength, tensors);
        }
        catch
        {
            view.Dispose();
            file.Dispose();
            throw;
        }
    }

    private static Dictionary<string, SafeTensorInfo> ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new NeuronExplainerException($"{path}: safetensors header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new NeuronExplainerException($"{path}: safetensors header must be a JSON object");
            var tensors = new Dictionary<string, SafeTensorInfo>();
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                tensors[entry.Name] = ParseEntry(path, entry, dataLength);
            }
            return tensors;
        }
    }

    private static SafeTensorInfo ParseEntry(string path, JsonProperty entry, long dataLength)
    {
        NeuronExplainerException Bad(string what) => new($"{path}: tensor '{entry.Name}': {what}");
        try
        {
            var value = entry.Value;
            var dtype = value.GetProperty("dtype").GetString() ?? "";
            if (!DTypeSizes.TryGetValue(dtype, out var size)) throw Bad($"unknown dtype '{dtype}'");
            var shape = value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (shape.Any(d => d < 0)) throw Bad($"negative dimension in shape [{string.Join(", ", shape)}]");
            var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (offsets.Length != 2) throw Bad("data_offsets must be [begin, end]");
            var info = new SafeTensorInfo(entry.Name, dtype, shape, offsets[0], offsets[1]);
            if (info.Begin < 0 || info.End < info.Begin || info.End > dataLength)
                throw Bad($"data offsets [{info.Begin}, {info.End}] are outside the {dataLength}-byte data section (truncated file?)");
            if (info.End - info.Begin != info.ElementCount * size)
                throw Bad($"{info.End - info.Begin} bytes of data for shape {info.ShapeText} of {dtype} (expected {info.ElementCount * size})");
            return info;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Bad($"malformed header entry ({e.Message})");
        }
    }

    /// <summary>Reads a tensor as fp32, converting F16/BF16 (and narrowing F64).</summary>
    public float[] ReadFloat32(string name)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw new NeuronExplainerException($"{Path}: tensor '{name}' is missing");
        var count = checked((int)info.ElementCount);
        var result = GC.AllocateUninitializedArray<float>(count);
        var source = _data + info.Begin;
        switch (info.DType)
        {
            case "F32":
                new ReadOnlySpan<float>(source, count).CopyTo(result);
                break;
            case "F16":
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, count), result);
                break;
            case "BF16":
                // bfloat16 is the top half of an IEEE float32.
                var raw = new ReadOnlySpan<ushort>(source, count);
                var bits = MemoryMarshal.Cast<float, uint>(result.AsSpan());
                for (var i = 0; i < count; i++) bits[i] = (uint)raw[i] << 16;
                break;
            case "F64":
                var doubles = new ReadOnlySpan<double>(source, count);
                for (var i = 0; i < count; i++) result[i] = (float)doubles[i];
                break;
            default:
                throw new NeuronExplainerException($"{Path}: tensor '{name}' has dtype {info.DType}; expected F32, F16 or BF16 weights");
        }
        return result;
    }

    /// <summary>The raw bits of a BF16 tensor.</summary>
    public ushort[] ReadBFloat16Bits(string name)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw new NeuronExplainerException($"{Path}: tensor '{name}' is missing");
        if (info.DType != "BF16") throw new NeuronExplainerException($"{Path}: tensor '{name}' has dtype {info.DType}; expected BF16");
        var count = checked((int)info.ElementCount);
        return new ReadOnlySpan<ushort>(_data + info.Begin, count).ToArray();
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
