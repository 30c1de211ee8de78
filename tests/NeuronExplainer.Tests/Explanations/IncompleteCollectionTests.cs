using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Activations;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>explain and score refuse a store whose collect was killed while writing records, and accept it once collect finished it.</summary>
public sealed class IncompleteCollectionTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Explain_and_score_refuse_a_half_written_collection_until_collect_repairs_it()
    {
        string corpus = temp.Sub("corpus.txt");
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 40).Select(i => string.Concat(Enumerable.Repeat($"word{i % 7} and more ", 6)))));
        string run = temp.Sub("run");
        Collector Collector() => new(new FakeModel(layers: 2, width: 3), new CollectionSettings { SequenceLength = 16, TopK = 4, RandomSamples = 4, CheckpointWindows = 8 },
            new CorpusOptions(corpus), "fake");
        using (var store = NeuronStores.Open(run))
        using (StoreFaults.FailRecordsOfLayer(Path.Combine(run, SqliteNeuronStore.FileName), layer: 1))
            Assert.Throws<NeuronExplainerException>(() => Collector().Run(store, "test"));

        foreach (var command in new[] { "explain", "score" })
        {
            var refused = Run(command, "--store", run);
            Assert.Equal(1, refused.Code);
            Assert.Contains("holds an incomplete collection (collect was stopped or is still running", refused.Err);
            Assert.Contains("run collect again with the same options", refused.Err);
            Assert.Single(refused.Err.Trim().Split('\n'));
        }

        using (var store = NeuronStores.Open(run)) Collector().Run(store, "test");
        var explain = Run("explain", "--store", run);
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("Explained 6 neurons", explain.Out);
    }
}
