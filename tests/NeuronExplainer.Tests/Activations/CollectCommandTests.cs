using NeuronExplainer.Activations;
using NeuronExplainer.Cli;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Activations;

/// <summary>End to end on the real stories260K model over a slice of TinyStories, through the CLI.</summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class CollectCommandTests : IDisposable
{
    readonly TempDirectory temp = new();

    string directory => temp.Path;

    public void Dispose() => temp.Dispose();

    [Fact]
    public void CollectsAllNeuronsOfStories260KAndShowsOne()
    {
        var model = SharedData.Path("models/stories260K/stories260K.bin");
        var tokenizer = SharedData.Path("models/stories260K/tok512.bin");
        var corpus = SharedData.Path("corpora/tinystories-train-head.txt");
        // A slice of the corpus, gzipped, in a directory: exercises the reader's paths on real text.
        var slice = Path.Combine(directory, "corpus");
        Directory.CreateDirectory(slice);
        using (var gzip = new System.IO.Compression.GZipStream(File.Create(Path.Combine(slice, "head.txt.gz")), System.IO.Compression.CompressionLevel.Fastest))
        using (var writer = new StreamWriter(gzip))
            foreach (var line in File.ReadLines(corpus).Take(120)) writer.WriteLine(line);
        var store = Path.Combine(directory, "store");
        string[] collect = ["collect", "--model", model, "--tokenizer", tokenizer, "--corpus", slice, "--store", store, "--top-k", "8", "--random", "8", "--quantiles", "4", "--per-quantile", "2", "--seed", "5"];

        var (code, output, err) = Run(collect);
        Assert.True(code == 0, err);
        Assert.Contains("860 (5 layers x 172)", output);
        Assert.Contains("collecting: ", err);
        using (var opened = SqliteNeuronStore.OpenExisting(store))
        {
            Assert.Equal(860, opened.ListNeurons().Count);
            var record = opened.GetNeuronRecord(new NeuronId(4, 171))!;
            Assert.Equal(8, record.MostPositiveActivationRecords.Count);
            Assert.All(record.MostPositiveActivationRecords, r => Assert.InRange(r.Tokens.Count, 32, 64));
            Assert.Equal(5, record.QuantileBoundaries!.Count);
            Assert.NotNull(record.Kurtosis);
            Assert.NotEmpty(opened.GetActivationBasedTokens(new NeuronId(0, 0))!.Tokens);
            Assert.Equal(20, opened.GetConnections(new NeuronId(2, 3))!.Upstream!.TopPositiveNeurons.Count);
            Assert.Null(opened.GetConnections(new NeuronId(0, 3))!.Upstream);
            Assert.Equal(50, opened.GetWeightBasedTokens(new NeuronId(1, 7))!.OutputNegative.Tokens.Count);
            Assert.Null(opened.GetCheckpoint(Collector.CheckpointStage));
        }

        (code, output, err) = Run(collect);
        Assert.Equal(0, code);
        Assert.Contains("already holds this collection", output);

        (code, _, err) = Run([.. collect[..^2], "--seed", "6"]);
        Assert.Equal(1, code);
        Assert.Contains("collect.seed 5 vs 6", err);

        (code, var shown, err) = Run("show", "--store", store, "--neuron", "3/10", "--records", "2");
        Assert.True(code == 0, err);
        Assert.Contains("neuron 3/10", shown);
        Assert.Contains("top-activating windows", shown);
        Assert.Contains("upstream neurons", shown);

        (code, _, err) = Run("show", "--store", store, "--neuron", "9/1");
        Assert.Equal(1, code);
        Assert.Contains("no record of neuron 9/1", err);

        (code, _, err) = Run([.. collect, "--layers", "0,7"]);
        Assert.Equal(1, code);
        Assert.Contains("--layers names layer 7", err);
    }
}
