using Parquet;
using Parquet.Schema;

namespace NeuronExplainer.Tests.Activations;

/// <summary>Writes small parquet corpora for tests: a text column and an id column, uncompressed and without dictionaries.</summary>
static class ParquetFiles
{
    /// <summary>One row group per entry of <paramref name="rowGroups"/>; a null value is a null cell.</summary>
    public static void Write(string path, IEnumerable<IReadOnlyList<string?>> rowGroups, string column = "text")
    {
        var text = new DataField<string>(column, nullable: true);
        var id = new DataField<int>("id");
        using var stream = File.Create(path);
        // Plain pages keep each value's bytes as written, so a test can find and break them in the file.
        var options = new ParquetOptions { DictionaryEncodingThreshold = 0, CompressionMethod = CompressionMethod.None };
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(text, id), stream, options).GetAwaiter().GetResult();
        try
        {
            int next = 0;
            foreach (var group in rowGroups)
            {
                using var rowGroup = writer.CreateRowGroup();
                rowGroup.WriteAsync(text, group!).GetAwaiter().GetResult();
                rowGroup.WriteAsync<int>(id, Enumerable.Range(next, group.Count).ToArray().AsMemory()).GetAwaiter().GetResult();
                next += group.Count;
            }
        }
        finally
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public static void Write(string path, params string?[][] rowGroups) => Write(path, rowGroups.Select(g => (IReadOnlyList<string?>)g));

    /// <summary>Replaces every occurrence of <paramref name="marker"/> (ASCII) in the file by invalid UTF-8 bytes of the same length.</summary>
    public static void BreakUtf8(string path, string marker)
    {
        var bytes = File.ReadAllBytes(path);
        var pattern = System.Text.Encoding.ASCII.GetBytes(marker);
        int found = 0;
        for (int at = bytes.AsSpan().IndexOf(pattern); at >= 0; at = bytes.AsSpan().IndexOf(pattern))
        {
            bytes.AsSpan(at, pattern.Length).Fill(0xff);
            found++;
        }
        if (found == 0) throw new InvalidOperationException($"marker '{marker}' not found in {path}");
        File.WriteAllBytes(path, bytes);
    }
}
