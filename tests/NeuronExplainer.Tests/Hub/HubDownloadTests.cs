using System.Text;
using NeuronExplainer.Cli;
using NeuronExplainer.Models.Hub;
using Spectre.Console;

namespace NeuronExplainer.Tests.Hub;

public class HubDownloadTests : IAsyncLifetime
{
    private FakeHub hub = null!;
    private readonly string cache = Directory.CreateTempSubdirectory("hub-cache-").FullName;
    private readonly StringWriter progress = new();
    /// <summary>Displays a failed download left open; closed at the end so no live display outlives its test.</summary>
    private readonly List<HubDownloadDisplay> displays = [];

    public async Task InitializeAsync() => hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var display in displays) display.Dispose();
        await hub.DisposeAsync();
        Directory.Delete(cache, recursive: true);
    }

    private HubOptions Options(string? token = null, bool offline = false) => new()
    {
        Endpoint = hub.Endpoint,
        Token = token,
        CacheDirectory = cache,
        Offline = offline,
        RetryDelay = TimeSpan.FromMilliseconds(10),
    };

    /// <summary>The CLI's display of the library's download progress, drawn into <see cref="progress"/>.</summary>
    private HubDownloadDisplay Console(bool interactive = true)
    {
        var display = new HubDownloadDisplay(AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(progress),
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
        }));
        displays.Add(display);
        return display;
    }

    private Task<ModelLocation> LocateAsync(string model, HubOptions? options = null) => ModelLocator.LocateAsync(model, options ?? Options(), Console());

    private static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A GPT-2-like repository: config, LFS weights, vocab/merges, plus files that must not be fetched.</summary>
    private byte[] AddGpt2Like(string repo = "openai-community/gpt2", int weightBytes = 300_000)
    {
        var weights = Bytes(weightBytes, 1);
        hub.Add(repo, "config.json", "{\"model_type\": \"gpt2\"}");
        hub.Add(repo, "model.safetensors", weights, lfs: true);
        hub.Add(repo, "vocab.json", "{\"a\": 0}");
        hub.Add(repo, "merges.txt", "#version: 0.2\n");
        hub.Add(repo, "tokenizer_config.json", "{}");
        hub.Add(repo, "pytorch_model.bin", Bytes(1000, 2), lfs: true);
        hub.Add(repo, "onnx/decoder_model.onnx", Bytes(1000, 3), lfs: true);
        return weights;
    }

    [Fact]
    public async Task Downloads_what_a_hugging_face_model_needs_into_the_cache_and_reuses_it()
    {
        var weights = AddGpt2Like();
        var location = await LocateAsync("openai-community/gpt2");

        Assert.Equal(ModelFormat.HuggingFace, location.Format);
        Assert.Equal(Path.Combine(cache, "models--openai-community--gpt2", "snapshots", "main"), location.Directory);
        Assert.Equal(weights, File.ReadAllBytes(Assert.Single(location.Checkpoints)));
        Assert.Equal(["vocab.json", "merges.txt"], location.TokenizerFiles.Select(Path.GetFileName));
        Assert.True(File.Exists(Path.Combine(location.Directory, "tokenizer_config.json")));
        Assert.False(File.Exists(Path.Combine(location.Directory, "pytorch_model.bin")));
        Assert.Empty(Directory.GetFiles(cache, "*.incomplete", SearchOption.AllDirectories));
        // The weights came from the CDN host without the token; the progress shows the file and a summary.
        Assert.Contains(hub.Requests, r => r.Host == "localhost" && r.Path.EndsWith("model.safetensors", StringComparison.Ordinal));
        Assert.Contains("model.safetensors", progress.ToString());
        Assert.Contains("downloaded 5 file(s)", progress.ToString());

        hub.Requests.Clear();
        var again = await LocateAsync("openai-community/gpt2");
        Assert.Equal((location.Format, location.Directory, location.Config), (again.Format, again.Directory, again.Config));
        Assert.Equal(location.Checkpoints, again.Checkpoints);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task Sharded_checkpoints_fetch_the_index_then_every_shard()
    {
        hub.Add("org/sharded", "config.json", "{}");
        hub.Add("org/sharded", "tokenizer.json", "{}");
        hub.Add("org/sharded", "model.safetensors.index.json",
            "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\", \"c\": \"model-00001-of-00002.safetensors\"}}");
        hub.Add("org/sharded", "model-00001-of-00002.safetensors", Bytes(5000, 4), lfs: true);
        hub.Add("org/sharded", "model-00002-of-00002.safetensors", Bytes(7000, 5), lfs: true);
        hub.PageSize = 2;

        var location = await LocateAsync("org/sharded");
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], location.Checkpoints.Select(Path.GetFileName));
        Assert.Equal(Bytes(7000, 5), File.ReadAllBytes(location.Checkpoints[1]));
        Assert.Equal(["tokenizer.json"], location.TokenizerFiles.Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_llama2c_folder_of_a_repository_gives_the_bin_and_its_tokenizer()
    {
        hub.Add("karpathy/tinyllamas", "stories15M.bin", Bytes(100, 6), lfs: true);
        hub.Add("karpathy/tinyllamas", "stories260K/stories260K.bin", Bytes(4000, 7), lfs: true);
        hub.Add("karpathy/tinyllamas", "stories260K/stories260K.pt", Bytes(4000, 8), lfs: true);
        hub.Add("karpathy/tinyllamas", "stories260K/tok512.bin", Bytes(600, 9));
        hub.Add("karpathy/tinyllamas", "stories260K/tok512.model", Bytes(600, 10));

        var location = await LocateAsync("karpathy/tinyllamas/stories260K");
        Assert.Equal(ModelFormat.Llama2c, location.Format);
        Assert.Equal(Bytes(4000, 7), File.ReadAllBytes(location.ModelPath));
        Assert.Equal(Bytes(600, 9), File.ReadAllBytes(location.TokenizerPath));
        Assert.Null(location.Config);
        Assert.False(File.Exists(Path.Combine(location.Directory, "stories260K.pt")));
        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains("stories15M", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_response_cut_off_midway_is_resumed_with_a_range_request()
    {
        var weights = AddGpt2Like();
        var file = hub.Add("openai-community/gpt2", "model.safetensors", weights, lfs: true);
        file.CutOffs = 2;
        file.CutOffAfterBytes = 70_000;

        var location = await LocateAsync("openai-community/gpt2");
        Assert.Equal(weights, File.ReadAllBytes(location.Checkpoints[0]));
        var ranges = hub.Requests.Where(r => r.Host == "localhost").Select(r => r.Range).ToList();
        Assert.Equal([null, "bytes=70000-", "bytes=140000-"], ranges);
    }

    [Fact]
    public async Task A_partial_file_left_by_an_earlier_run_is_continued()
    {
        var weights = AddGpt2Like();
        string snapshot = Path.Combine(cache, "models--openai-community--gpt2", "snapshots", "main");
        Directory.CreateDirectory(snapshot);
        File.WriteAllBytes(Path.Combine(snapshot, "model.safetensors.incomplete"), weights[..123_456]);

        var location = await LocateAsync("openai-community/gpt2");
        Assert.Equal(weights, File.ReadAllBytes(location.Checkpoints[0]));
        Assert.Contains(hub.Requests, r => r.Range == "bytes=123456-");
    }

    [Fact]
    public async Task Wrong_size_is_an_error_and_leaves_no_file()
    {
        AddGpt2Like();
        hub.Add("openai-community/gpt2", "model.safetensors", Bytes(1000, 11), lfs: true).AdvertisedSize = 1200;

        var error = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2"));
        Assert.Contains("'model.safetensors'", error.Message);
        Assert.Contains("1000 bytes, expected 1200", error.Message);
        Assert.Empty(Directory.GetFiles(cache, "model.safetensors*", SearchOption.AllDirectories));

        hub.Add("openai-community/gpt2", "model.safetensors", Bytes(300_000, 11), lfs: true).AdvertisedSize = 1000;
        var tooLong = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2"));
        Assert.Contains("expected 1000", tooLong.Message);
        Assert.Empty(Directory.GetFiles(cache, "model.safetensors*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Wrong_checksum_is_an_error_and_leaves_no_file()
    {
        AddGpt2Like();
        hub.Add("openai-community/gpt2", "model.safetensors", Bytes(1000, 12), lfs: true).Sha256 = new string('a', 64);

        var error = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2"));
        Assert.Contains("corrupt", error.Message);
        Assert.Contains(new string('a', 64), error.Message);
        Assert.Empty(Directory.GetFiles(cache, "model.safetensors*", SearchOption.AllDirectories));

        // Plain git files are checked against their git blob id.
        AddGpt2Like("org/plain");
        hub.Add("org/plain", "config.json", "{\"model_type\": \"gpt2\"}").GitOid = new string('b', 40);
        var git = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("org/plain"));
        Assert.Contains("'config.json'", git.Message);
        Assert.Contains(new string('b', 40), git.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "models--org--plain"), "config.json*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Missing_repository_and_missing_file_name_what_was_not_found()
    {
        var noRepo = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("nobody/nothing"));
        Assert.Contains("repository nobody/nothing not found", noRepo.Message);

        AddGpt2Like();
        hub.Add("openai-community/gpt2", "vocab.json", "{}").MissingOnResolve = true;
        var noFile = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2"));
        Assert.Contains("404", noFile.Message);
        Assert.Contains("'vocab.json'", noFile.Message);
        Assert.Contains("openai-community/gpt2@main", noFile.Message);

        var noRevision = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2@v9"));
        Assert.Contains("revision 'v9'", noRevision.Message);
    }

    [Fact]
    public async Task Private_repositories_need_HF_TOKEN_which_never_reaches_the_cdn_or_the_messages()
    {
        AddGpt2Like("org/private");
        hub.RequiredToken = "hf_secret_token";

        var error = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("org/private"));
        Assert.Contains("401", error.Message);
        Assert.Contains("set HF_TOKEN", error.Message);

        var wrong = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("org/private", Options(token: "hf_wrong")));
        Assert.Contains("HF_TOKEN was refused", wrong.Message);
        Assert.DoesNotContain("hf_wrong", wrong.Message);

        hub.Requests.Clear();
        var location = await LocateAsync("org/private", Options(token: "hf_secret_token"));
        Assert.Single(location.Checkpoints);
        Assert.All(hub.Requests.Where(r => r.Host == "localhost"), r => Assert.False(r.HasAuthorization));
        Assert.Contains(hub.Requests, r => r.Host == "127.0.0.1" && r.HasAuthorization);
        Assert.DoesNotContain("hf_secret_token", progress.ToString());
        Assert.DoesNotContain("hf_secret_token", Options(token: "hf_secret_token").ToString());
    }

    [Fact]
    public async Task Offline_uses_the_cache_and_says_so_when_the_model_is_not_there()
    {
        var offline = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("openai-community/gpt2", Options(offline: true)));
        Assert.Contains("HF_HUB_OFFLINE", offline.Message);

        AddGpt2Like();
        await LocateAsync("openai-community/gpt2");
        hub.Requests.Clear();
        var cached = await LocateAsync("openai-community/gpt2", Options(offline: true));
        Assert.Single(cached.Checkpoints);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task An_unreachable_endpoint_says_so()
    {
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        var options = new HubOptions { Endpoint = $"http://127.0.0.1:{closedPort}", CacheDirectory = cache };
        var error = await Assert.ThrowsAsync<NeuronExplainerException>(() => ModelLocator.LocateAsync("gpt2", options, Console()));
        Assert.Contains("cannot reach", error.Message);
        Assert.Contains("offline", error.Message);
    }

    [Fact]
    public async Task Repositories_without_safetensors_or_with_only_tokenizer_model_are_refused_clearly()
    {
        hub.Add("org/old", "config.json", "{}");
        hub.Add("org/old", "pytorch_model.bin", Bytes(10, 1), lfs: true);
        hub.Add("org/old", "vocab.json", "{}");
        var old = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("org/old"));
        Assert.Contains("only safetensors", old.Message);
        Assert.Contains("pytorch_model.bin", old.Message);

        hub.Add("org/llama", "config.json", "{}");
        hub.Add("org/llama", "model.safetensors", Bytes(10, 1), lfs: true);
        hub.Add("org/llama", "tokenizer.model", Bytes(10, 2), lfs: true);
        var llama = await Assert.ThrowsAsync<NeuronExplainerException>(() => LocateAsync("org/llama"));
        Assert.Contains("tokenizer.model", llama.Message);
        Assert.Contains("not supported", llama.Message);
    }

    [Fact]
    public async Task Dataset_files_matching_a_pattern_are_downloaded()
    {
        hub.Add("roneneldan/TinyStories", "data/train-00000-of-00002.parquet", Bytes(3000, 13), lfs: true, kind: "datasets");
        hub.Add("roneneldan/TinyStories", "data/train-00001-of-00002.parquet", Bytes(3000, 14), lfs: true, kind: "datasets");
        hub.Add("roneneldan/TinyStories", "data/validation-00000-of-00001.parquet", Bytes(3000, 15), lfs: true, kind: "datasets");
        hub.Add("roneneldan/TinyStories", "TinyStories-valid.txt", "Once upon a time.", kind: "datasets");

        using var client = new HubClient(Options(), Console(interactive: false));
        var train = await HubDatasets.DownloadFilesAsync(client, "roneneldan/TinyStories", "data/train-*.parquet");
        Assert.Contains("data/train-00001-of-00002.parquet: 0.0 MB", progress.ToString());
        Assert.Equal(["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"], train.Select(Path.GetFileName));
        Assert.Equal(Bytes(3000, 14), File.ReadAllBytes(train[1]));
        Assert.StartsWith(Path.Combine(cache, "datasets--roneneldan--TinyStories"), train[0]);

        var text = await HubDatasets.DownloadFilesAsync(client, "roneneldan/TinyStories", "**/*.txt");
        Assert.Equal("Once upon a time.", File.ReadAllText(Assert.Single(text)));

        var none = await Assert.ThrowsAsync<NeuronExplainerException>(() => HubDatasets.DownloadFilesAsync(client, "roneneldan/TinyStories", "*.jsonl"));
        Assert.Contains("no file matches '*.jsonl'", none.Message);

        using var offline = new HubClient(Options(offline: true), Console());
        Assert.Equal(train, await HubDatasets.DownloadFilesAsync(offline, "roneneldan/TinyStories", "data/train-*.parquet"));
    }
}
