using System.IO.Compression;
using System.Text;
using NeuronExplainer.Activations;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

public sealed class CorpusReaderTests : IDisposable
{
    readonly TempDirectory temp = new();

    string directory => temp.Path;

    public void Dispose() => temp.Dispose();


    string Write(string name, byte[] content)
    {
        var path = Path.Combine(directory, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    string Write(string name, string content) => Write(name, Encoding.UTF8.GetBytes(content));

    static (List<string> Documents, List<CorpusIssue> Issues) Read(CorpusOptions options)
    {
        var issues = new List<CorpusIssue>();
        var documents = new CorpusReader(options).ReadDocuments(issues.Add).ToList();
        return (documents, issues);
    }

    [Fact]
    public void ParquetRowsOfTheTextColumnAreDocumentsAcrossRowGroups()
    {
        var path = Path.Combine(directory, "train-00000.parquet");
        ParquetFiles.Write(path, ["Once upon a time.", "A fox ran."], ["  ", "Third row, second group."], ["Last."]);
        var reader = new CorpusReader(new CorpusOptions(path));
        var issues = new List<CorpusIssue>();
        Assert.Equal(["Once upon a time.", "A fox ran.", "Third row, second group.", "Last."], reader.ReadDocuments(issues.Add).ToList());
        Assert.Empty(issues);
        Assert.Equal(5, reader.LinesRead);
        Assert.Equal(reader.TotalBytes, reader.BytesRead);
    }

    [Fact]
    public void BadParquetRowsAreReportedByRowNumberAndSkipped()
    {
        var path = Path.Combine(directory, "broken.parquet");
        ParquetFiles.Write(path, ["good one", "@@BAD@@"], [null, "good two"]);
        ParquetFiles.BreakUtf8(path, "@@BAD@@");
        var (documents, issues) = Read(new CorpusOptions(path));
        Assert.Equal(["good one", "good two"], documents);
        Assert.Equal([$"{path}:2: invalid UTF-8", $"{path}:3: the value of 'text' is null"], issues.Select(i => i.ToString()));
    }

    [Fact]
    public void AParquetFileWithoutTheTextColumnOrNotParquetAtAllIsAClearError()
    {
        var path = Path.Combine(directory, "other.parquet");
        ParquetFiles.Write(path, [["x"]], column: "content");
        var missing = Assert.Throws<NeuronExplainerException>(() => Read(new CorpusOptions(path)));
        Assert.Contains("no column 'text'", missing.Message);
        Assert.Contains("content (string), id (Int32)", missing.Message);
        Assert.Contains("set CorpusOptions.TextField to the column", missing.Message);
        Assert.Contains("set --text-field to the column", NeuronExplainer.Cli.SettingFlags.Message(missing));
        Assert.Equal(["x"], Read(new CorpusOptions(path, TextField: "content")).Documents);
        var wrongType = Assert.Throws<NeuronExplainerException>(() => Read(new CorpusOptions(path, TextField: "id")));
        Assert.Contains("column 'id' holds Int32, not text", wrongType.Message);

        var fake = Write("fake.parquet", "PAR1 this is no parquet file");
        var broken = Assert.Throws<NeuronExplainerException>(() => Read(new CorpusOptions(fake)));
        Assert.Contains($"{fake}: not a readable parquet file", broken.Message);
    }

    [Fact]
    public void ADirectoryMixesParquetWithTextFilesInPathOrder()
    {
        ParquetFiles.Write(Path.Combine(directory, "a.parquet"), ["from parquet"]);
        Write("b.txt", "from text");
        Assert.Equal(["from parquet", "from text"], Read(new CorpusOptions(directory)).Documents);
    }

    [Fact]
    public void EndOfTextLinesSeparateDocuments()
    {
        var path = Write("a.txt", "One day.\nThe end.\n<|endoftext|>\nSecond story.\r\n <|endoftext|> \n\nThird, cut off");
        var (documents, issues) = Read(new CorpusOptions(path));
        Assert.Equal(["One day.\nThe end.", "Second story.", "Third, cut off"], documents);
        Assert.Empty(issues);
    }

    [Fact]
    public void BlankLinesSeparateDocumentsWhenAsked()
    {
        var path = Write("a.txt", "\uFEFFfirst line\nsame doc\n\n\n  \nsecond doc\n");
        var (documents, _) = Read(new CorpusOptions(path, DocumentSeparator.Blank));
        Assert.Equal(["first line\nsame doc", "second doc"], documents);
    }

    [Fact]
    public void JsonlReadsTheTextFieldAndReportsBrokenLinesWithTheirNumber()
    {
        var path = Write("a.jsonl", "{\"text\": \"alpha\"}\n{\"text\": \"beta\n\n[1,2]\n{\"body\": \"no text\"}\n{\"text\": \"gamma\\nmore\", \"id\": 3}\n");
        var (documents, issues) = Read(new CorpusOptions(path));
        Assert.Equal(["alpha", "gamma\nmore"], documents);
        Assert.Equal([2L, 4L, 5L], issues.Select(i => i.Line));
        Assert.All(issues, i => Assert.Equal(path, i.File));
        Assert.Contains("broken JSON", issues[0].Problem);
        Assert.Contains("expected a JSON object", issues[1].Problem);
        Assert.Contains("'text'", issues[2].Problem);
    }

    [Fact]
    public void CustomTextField()
    {
        var path = Write("a.jsonl", "{\"body\": \"x y\"}\n");
        Assert.Equal(["x y"], Read(new CorpusOptions(path, TextField: "body")).Documents);
    }

    [Fact]
    public void InvalidUtf8LinesAreSkippedAndReported()
    {
        var bytes = Encoding.UTF8.GetBytes("good one\n").Concat(new byte[] { 0x62, 0x61, 0x64, 0xC3, 0x28, 0x0A }).Concat(Encoding.UTF8.GetBytes("héllo\n<|endoftext|>\nnext\n")).ToArray();
        var path = Write("a.txt", bytes);
        var (documents, issues) = Read(new CorpusOptions(path));
        Assert.Equal(["good one\nhéllo", "next"], documents);
        var issue = Assert.Single(issues);
        Assert.Equal(2, issue.Line);
        Assert.Equal($"{path}:2: invalid UTF-8", issue.ToString());
    }

    [Fact]
    public void GzipFilesAndDirectoriesInPathOrder()
    {
        using (var buffer = new MemoryStream())
        {
            using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
                gzip.Write(Encoding.UTF8.GetBytes("{\"text\": \"zipped\"}\n"));
            Write("b/c.jsonl.gz", buffer.ToArray());
        }
        Write("a.txt", "plain\n<|endoftext|>\n");
        Write("z.txt", "last");
        Write("notes.bin", "ignored");
        Write(".hidden.txt", "ignored");
        var reader = new CorpusReader(new CorpusOptions(directory));
        Assert.Equal(["plain", "zipped", "last"], reader.ReadDocuments(_ => { }).ToList());
        Assert.Equal(reader.TotalBytes, reader.BytesRead);
        Assert.Equal(3, reader.Files.Count);
    }

    [Fact]
    public void MissingPathsAndEmptyDirectoriesAreClearErrors()
    {
        var missing = Assert.Throws<NeuronExplainerException>(() => new CorpusReader(new CorpusOptions(Path.Combine(directory, "nope.txt"))));
        Assert.Contains("nope.txt", missing.Message);
        Write("only.bin", "x");
        var empty = Assert.Throws<NeuronExplainerException>(() => new CorpusReader(new CorpusOptions(directory)));
        Assert.Contains("holds no corpus files", empty.Message);
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void ReadsTheSharedTinyStoriesHead()
    {
        var path = SharedData.Path("corpora/tinystories-train-head.txt");
        var (documents, issues) = Read(new CorpusOptions(path));
        Assert.Empty(issues);
        Assert.Equal(2317, documents.Count);
        Assert.StartsWith("One day, a little girl named Lily found a needle", documents[0]);
    }
}
