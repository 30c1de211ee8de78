using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Parquet;
using Parquet.Schema;

namespace NeuronExplainer.Activations;

/// <summary>How documents are laid out in a plain-text corpus file.</summary>
public enum DocumentSeparator
{
    /// <summary>A line holding only <c>&lt;|endoftext|&gt;</c> ends a document (TinyStories, GPT-2 dumps).</summary>
    EndOfText,
    /// <summary>One or more blank lines end a document.</summary>
    Blank,
}

/// <summary>Where to read a corpus and how to split it into documents.</summary>
/// <param name="Path">A file (plain text, JSONL, either gzipped, or parquet) or a directory of such files.</param>
/// <param name="Separator">Document separator of plain-text files.</param>
/// <param name="TextField">Field of each JSONL object, or column of a parquet file, that holds the document text.</param>
public sealed record CorpusOptions(string Path, DocumentSeparator Separator = DocumentSeparator.EndOfText, string TextField = "text")
{
    /// <summary>Files already resolved for <see cref="Path"/> (a hub dataset's downloads); null lists <see cref="Path"/> itself.</summary>
    public IReadOnlyList<string>? Files { get; init; }
}

/// <summary>A line (a row, in a parquet file) of the corpus that could not be read; it is skipped and counted.</summary>
public sealed record CorpusIssue(string File, long Line, string Problem)
{
    public override string ToString() => $"{File}:{Line}: {Problem}";
}

/// <summary>
/// Streams the documents of a corpus in a fixed order (files sorted by path), one at a time, so the
/// corpus is never held in memory. Lines that are not valid UTF-8, and JSONL lines that are not an
/// object with a string text field, are reported through <c>onIssue</c> and skipped. A parquet file
/// (Hugging Face datasets' usual format) is one document per row of its text column, read one row group
/// at a time; a null or non-UTF-8 value is reported by its 1-based row number and skipped.
/// </summary>
public sealed class CorpusReader
{
    const string EndOfTextMarker = "<|endoftext|>";
    static readonly string[] TextExtensions = [".txt", ".text", ".md"];
    static readonly string[] JsonlExtensions = [".jsonl", ".json", ".ndjson"];
    const string ParquetExtension = ".parquet";
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly CorpusOptions options;
    readonly IReadOnlyList<string> files;
    long finishedFileBytes;
    FileStream? current;

    public CorpusReader(CorpusOptions options)
    {
        this.options = options;
        files = options.Files ?? ListFiles(options.Path);
        TotalBytes = files.Sum(f => new FileInfo(f).Length);
    }

    /// <summary>The files read, in reading order.</summary>
    public IReadOnlyList<string> Files => files;

    /// <summary>Size on disk of all files (compressed size for .gz), for progress estimates.</summary>
    public long TotalBytes { get; }

    /// <summary>Lines read so far over all files, skipped ones included.</summary>
    public long LinesRead { get; private set; }

    /// <summary>Bytes of the files on disk consumed so far.</summary>
    public long BytesRead => finishedFileBytes + (current is { CanSeek: true } ? current.Position : 0);

    /// <summary>Streams every document. Empty documents (only whitespace) are dropped.</summary>
    public IEnumerable<string> ReadDocuments(Action<CorpusIssue> onIssue)
    {
        finishedFileBytes = 0;
        LinesRead = 0;
        foreach (var file in files)
        {
            using (current = File.OpenRead(file))
            {
                if (IsParquet(file))
                {
                    foreach (var document in ParquetDocuments(file, current, onIssue))
                        if (!string.IsNullOrWhiteSpace(document)) yield return document;
                    finishedFileBytes += current.Length;
                    continue;
                }
                Stream stream = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
                    ? new GZipStream(current, CompressionMode.Decompress)
                    : current;
                using (stream)
                {
                    var documents = IsJsonl(file) ? JsonlDocuments(file, stream, onIssue) : TextDocuments(file, stream, onIssue);
                    foreach (var document in documents)
                        if (!string.IsNullOrWhiteSpace(document)) yield return document;
                }
            }
            finishedFileBytes += new FileInfo(file).Length;
            current = null;
        }
    }

    IEnumerable<string> TextDocuments(string file, Stream stream, Action<CorpusIssue> onIssue)
    {
        var document = new StringBuilder();
        foreach (var (line, _) in Lines(file, stream, onIssue))
        {
            bool ends = options.Separator == DocumentSeparator.EndOfText
                ? line.AsSpan().Trim().SequenceEqual(EndOfTextMarker)
                : line.AsSpan().Trim().IsEmpty;
            if (ends)
            {
                if (document.Length > 0) yield return document.ToString();
                document.Clear();
                continue;
            }
            if (document.Length > 0) document.Append('\n');
            document.Append(line);
        }
        if (document.Length > 0) yield return document.ToString();
    }

    IEnumerable<string> JsonlDocuments(string file, Stream stream, Action<CorpusIssue> onIssue)
    {
        foreach (var (line, number) in Lines(file, stream, onIssue))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            string? text = null;
            string? problem = null;
            try
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.ValueKind != JsonValueKind.Object)
                    problem = $"expected a JSON object, found {json.RootElement.ValueKind}";
                else if (!json.RootElement.TryGetProperty(options.TextField, out var field) || field.ValueKind != JsonValueKind.String)
                    problem = $"no string field '{options.TextField}' (set CorpusOptions.TextField to the field holding the text)";
                else
                    text = field.GetString();
            }
            catch (JsonException e)
            {
                problem = $"broken JSON: {e.Message}";
            }
            if (problem is not null) onIssue(new CorpusIssue(file, number, problem));
            else if (text is not null) yield return text;
        }
    }

    /// <summary>The text column's values, row group by row group, so memory holds one group's values at most.</summary>
    IEnumerable<string> ParquetDocuments(string file, Stream stream, Action<CorpusIssue> onIssue)
    {
        var reader = Parquet(file, () => ParquetReader.CreateAsync(stream, leaveStreamOpen: true));
        try
        {
            foreach (var document in ParquetDocuments(file, reader, onIssue)) yield return document;
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    IEnumerable<string> ParquetDocuments(string file, ParquetReader reader, Action<CorpusIssue> onIssue)
    {
        var column = reader.Schema.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == options.TextField);
        if (column is null || TypeName(column) != "string")
        {
            string columns = string.Join(", ", reader.Schema.Fields.Select(f => f is DataField d ? $"{d.Name} ({TypeName(d)})" : f.Name));
            throw new NeuronExplainerException(column is null
                ? $"{file}: no column '{options.TextField}' (the file has: {columns}); set CorpusOptions.TextField to the column holding the text"
                : $"{file}: column '{options.TextField}' holds {TypeName(column)}, not text (the file has: {columns}); set CorpusOptions.TextField to the column holding the text");
        }
        // The same column read as bytes, so invalid UTF-8 is found here instead of being replaced while decoding.
        var bytes = new DataField(column.Name, typeof(byte[]), column.IsNullable);
        _ = new ParquetSchema(bytes); // a field is read only as part of a schema
        long row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            // Raw: the present values packed in order, and per row a definition level (below the maximum: null).
            ReadOnlyMemory<byte>[] values;
            int[] levels;
            using (var group = reader.OpenRowGroupReader(g))
            {
                int rows = checked((int)group.RowCount);
                (values, levels) = (new ReadOnlyMemory<byte>[rows], new int[rows]);
                Parquet(file, () => group.ReadRawAsync(bytes, values.AsMemory(), levels.AsMemory(), null));
            }
            int present = 0;
            foreach (int level in levels)
            {
                row++;
                LinesRead++;
                if (bytes.IsNullable && level == 0) onIssue(new CorpusIssue(file, row, $"the value of '{options.TextField}' is null"));
                else if (values[present++].Span is var value && !Utf8.IsValid(value)) onIssue(new CorpusIssue(file, row, "invalid UTF-8"));
                else yield return StrictUtf8.GetString(value);
            }
        }
    }

    // Parquet.Net gives strings (and binary values) as memory; name them as the parquet schema does.
    static string TypeName(DataField field) =>
        (field.IsArray ? "list of " : "") + (field.ClrType == typeof(ReadOnlyMemory<char>) || field.ClrType == typeof(string) ? "string"
            : field.ClrType == typeof(ReadOnlyMemory<byte>) ? "binary"
            : field.ClrType.Name);

    // A file that is not parquet (or is cut off) stops the read with its name: unlike a bad line, nothing of it is readable.
    static T Parquet<T>(string file, Func<Task<T>> read)
    {
        try { return read().GetAwaiter().GetResult(); }
        catch (Exception e) when (e is ParquetException or IOException or InvalidDataException or NotSupportedException)
        {
            throw new NeuronExplainerException($"{file}: not a readable parquet file ({e.Message})", e);
        }
    }

    static void Parquet(string file, Func<ValueTask> read) => Parquet(file, async () => { await read(); return 0; });

    /// <summary>Lines as strings with 1-based numbers; a line with invalid UTF-8 is reported and skipped.</summary>
    IEnumerable<(string Line, long Number)> Lines(string file, Stream stream, Action<CorpusIssue> onIssue)
    {
        var buffer = new byte[1 << 16];
        var line = new MemoryStream();
        long number = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            while (start < read)
            {
                int newline = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                if (newline < 0)
                {
                    line.Write(buffer, start, read - start);
                    break;
                }
                line.Write(buffer, start, newline - start);
                start = newline + 1;
                LinesRead++;
                if (Decode(file, ++number, line, onIssue) is { } text) yield return (text, number);
                line.SetLength(0);
            }
        }
        if (line.Length > 0)
        {
            LinesRead++;
            if (Decode(file, ++number, line, onIssue) is { } last) yield return (last, number);
        }
    }

    static string? Decode(string file, long number, MemoryStream line, Action<CorpusIssue> onIssue)
    {
        var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (number == 1 && bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        if (!bytes.IsEmpty && bytes[^1] == (byte)'\r') bytes = bytes[..^1];
        if (!Utf8.IsValid(bytes))
        {
            onIssue(new CorpusIssue(file, number, "invalid UTF-8"));
            return null;
        }
        return StrictUtf8.GetString(bytes);
    }

    static bool IsParquet(string file) => file.EndsWith(ParquetExtension, StringComparison.OrdinalIgnoreCase);

    static bool IsJsonl(string file)
    {
        var name = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? file[..^3] : file;
        return JsonlExtensions.Any(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase));
    }

    internal static bool IsCorpusFile(string file)
    {
        if (IsParquet(file)) return true;
        var name = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? file[..^3] : file;
        return TextExtensions.Concat(JsonlExtensions).Any(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase));
    }

    static IReadOnlyList<string> ListFiles(string path)
    {
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path))
            throw new NeuronExplainerException($"corpus '{path}' does not exist; expected a text or JSONL file (optionally .gz), a parquet file, a directory of them, or a Hugging Face dataset id ORG/NAME[:GLOB]");
        var found = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && IsCorpusFile(f))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (found.Count == 0)
            throw new NeuronExplainerException(
                $"corpus directory '{path}' holds no corpus files; expected files ending in .txt, .text, .md, .jsonl, .json or .ndjson (optionally .gz), or .parquet");
        return found;
    }
}
