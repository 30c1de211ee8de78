using NeuronExplainer.Activations;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Hub;

/// <summary>A corpus named by a hub dataset id is downloaded like a model and read like local files.</summary>
public sealed class HubCorpusTests : IAsyncLifetime
{
    FakeHub hub = null!;
    readonly TempDirectory cache = new();

    public async Task InitializeAsync() => hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        await hub.DisposeAsync();
        cache.Dispose();
    }

    HubClient Client() => new(new HubOptions { Endpoint = hub.Endpoint, CacheDirectory = cache.Path, RetryDelay = TimeSpan.FromMilliseconds(10) });

    static List<string> Documents(CorpusOptions options)
    {
        var reader = new CorpusReader(options);
        return [.. reader.ReadDocuments(_ => { })];
    }

    [Fact]
    public async Task A_dataset_id_downloads_only_readable_files_and_reads_them()
    {
        hub.Add("stories/tiny", "train.txt", "Once upon a time.\n<|endoftext|>\nThe end came.\n", kind: "datasets");
        hub.Add("stories/tiny", "extra/more.jsonl", "{\"text\": \"A fox ran.\"}\n", kind: "datasets");
        hub.Add("stories/tiny", "data/train-00000.parquet", "PAR1 not readable", kind: "datasets");

        Assert.True(HubCorpus.IsDatasetId("stories/tiny"));
        using var client = Client();
        var options = await HubCorpus.ResolveAsync(new CorpusOptions("stories/tiny"), client);

        Assert.Equal(["more.jsonl", "train.txt"], options.Files!.Select(Path.GetFileName));
        Assert.DoesNotContain(hub.Requests, r => r.Path.EndsWith(".parquet", StringComparison.Ordinal));
        Assert.Equal(["A fox ran.", "Once upon a time.", "The end came."], Documents(options));
    }

    [Fact]
    public async Task A_glob_picks_files_and_a_missing_match_is_a_clear_error()
    {
        hub.Add("stories/tiny", "train.txt", "Once upon a time.\n", kind: "datasets");
        hub.Add("stories/tiny", "valid.txt", "A valid story.\n", kind: "datasets");
        using var client = Client();

        var valid = await HubCorpus.ResolveAsync(new CorpusOptions("stories/tiny:valid.*"), client);
        Assert.Equal(["A valid story."], Documents(valid));

        var none = await Assert.ThrowsAsync<NeuronExplainerException>(() => HubCorpus.ResolveAsync(new CorpusOptions("stories/tiny:*.jsonl"), client));
        Assert.Contains("no file matches '*.jsonl'", none.Message);
    }

    [Fact]
    public void Local_paths_are_never_taken_for_dataset_ids()
    {
        Assert.False(HubCorpus.IsDatasetId(cache.Path));
        Assert.False(HubCorpus.IsDatasetId("corpus.txt"));
    }
}
