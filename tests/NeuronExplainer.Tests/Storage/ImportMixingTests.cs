using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Storage;

/// <summary>An import never mixes another dataset into a store, nor replaces what it holds, unless forced.</summary>
public sealed class ImportMixingTests : IDisposable
{
    readonly TempDirectory temp = new();
    static readonly NeuronId Collected = new(0, 5);

    public void Dispose() => temp.Dispose();

    /// <summary>A store holding a finished collection of neuron 0/5 only, as collect leaves it.</summary>
    SqliteNeuronStore CollectedStore(string name)
    {
        var store = SqliteNeuronStore.Open(temp.Sub(name));
        store.PutManifest(new RunManifest("stories260K.bin", "tinystories.txt", new Dictionary<string, string>(), "0.1.0", DateTimeOffset.UnixEpoch));
        store.PutNeuronRecords([StoreFixtures.Record(0, 5)]);
        store.MarkCollectionComplete();
        return store;
    }

    static string RecordJson(INeuronRecordStore store) => JsonSerializer.Serialize(store.GetNeuronRecord(Collected)!, DatasetJson.Default.NeuronRecord);

    /// <summary>A tree in OpenAI's layout holding only the fixture's explanation files of <paramref name="neurons"/>.</summary>
    string ExplanationsOnly(string name, params NeuronId[] neurons)
    {
        foreach (var id in neurons)
        {
            string target = Path.Combine(temp.Sub(name), OpenAiDataset.Explanations, $"{id.LayerIndex}", $"{id.NeuronIndex}.jsonl");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(StoreFixtures.OpenAiLayout, OpenAiDataset.Explanations, $"{id.LayerIndex}", $"{id.NeuronIndex}.jsonl"), target);
        }
        return temp.Sub(name);
    }

    [Fact]
    public void Another_datasets_records_are_refused_by_a_collected_store_unless_forced()
    {
        string before;
        using (var store = CollectedStore("run"))
        {
            before = RecordJson(store);
            var e = Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(StoreFixtures.OpenAiLayout, store));
            Assert.Contains("the store holds a collection of stories260K.bin, and records of another dataset would be mixed into it", e.Message);
            Assert.EndsWith(OpenAiDataset.ReplaceAdvice, e.Message);
            Assert.Contains("import into another --store, or use --force to import anyway", NeuronExplainer.Cli.SettingFlags.Message(e));
            Assert.Equal(before, RecordJson(store));
            Assert.Empty(store.ListExplanationResults());
        }

        var refused = Run("import", "--from", StoreFixtures.OpenAiLayout, "--store", temp.Sub("run"));
        Assert.Equal(1, refused.Code);
        Assert.Contains("collated-activations", refused.Err);
        var forced = Run("import", "--from", StoreFixtures.OpenAiLayout, "--store", temp.Sub("run"), "--force");
        Assert.True(forced.Code == 0, forced.Err);
        using var after = SqliteNeuronStore.OpenExisting(temp.Sub("run"));
        Assert.NotEqual(before, RecordJson(after));
    }

    [Fact]
    public void Explanations_of_collected_neurons_import_under_a_new_source_but_never_over_one_nor_for_other_neurons()
    {
        using var store = CollectedStore("run");
        string ours = ExplanationsOnly("ours", Collected);
        Assert.Equal(1, OpenAiDataset.Import(ours, store, "openai").ExplanationResults);
        Assert.Contains("already holds explanations of neuron 0/5 under 'openai'",
            Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(ours, store, "openai")).Message);
        Assert.Equal(1, OpenAiDataset.Import(ours, store, "openai-again").ExplanationResults);

        var foreign = Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(ExplanationsOnly("foreign", Collected, new NeuronId(1, 2)), store, "other"));
        Assert.Contains("neuron 1/2 is not one of the 1 neurons the store collected from stories260K.bin", foreign.Message);
        Assert.DoesNotContain(store.ListScores(), s => s.Explainer == "other");
        Assert.Equal(JsonSerializer.Serialize(StoreFixtures.Record(0, 5), DatasetJson.Default.NeuronRecord), RecordJson(store));
    }

    [Fact]
    public void Importing_records_a_store_already_holds_is_refused_unless_forced()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("imported"));
        OpenAiDataset.Import(StoreFixtures.OpenAiLayout, store);
        var e = Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(StoreFixtures.OpenAiLayout, store, "second"));
        Assert.Contains("the store already holds the collated-activations of neuron 0/5", e.Message);
        Assert.Equal(2, OpenAiDataset.Import(StoreFixtures.OpenAiLayout, store, "openai", replace: true).ExplanationResults);
    }
}
