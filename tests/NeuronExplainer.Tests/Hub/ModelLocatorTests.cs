using NeuronExplainer.Models.Hub;
using NeuronExplainer.Tests.Tokenizers;

namespace NeuronExplainer.Tests.Hub;

public class ModelLocatorTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("locator-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Touch(string name, string content = "x")
    {
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void A_llama2c_bin_finds_its_tok_bin_beside_it()
    {
        string bin = SharedData.Path("models", "stories260K", "stories260K.bin");
        var location = ModelLocator.Locate(bin);
        Assert.Equal(ModelFormat.Llama2c, location.Format);
        Assert.Equal(bin, location.ModelPath);
        Assert.Equal(SharedData.Path("models", "stories260K", "tok512.bin"), location.TokenizerPath);

        var fromFolder = ModelLocator.Locate(SharedData.Path("models", "stories260K"));
        Assert.Equal(location.ModelPath, fromFolder.ModelPath);
    }

    [Fact]
    public void A_llama2c_bin_prefers_tokenizer_bin_and_refuses_ambiguity()
    {
        string model = Touch("model.bin");
        Touch("tok512.bin");
        Touch("tok4096.bin");
        var error = Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(model));
        Assert.Contains("several tokenizers", error.Message);
        Touch("tokenizer.bin");
        Assert.Equal(Path.Combine(directory, "tokenizer.bin"), ModelLocator.Locate(model).TokenizerPath);

        File.Delete(Path.Combine(directory, "tokenizer.bin"));
        File.Delete(Path.Combine(directory, "tok512.bin"));
        File.Delete(Path.Combine(directory, "tok4096.bin"));
        Assert.Contains("no tokenizer for model.bin", Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(model)).Message);
    }

    [Fact]
    public void A_hugging_face_directory_lists_checkpoint_config_and_tokenizer_files()
    {
        Touch("config.json", "{}");
        Assert.Contains("no model.safetensors", Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(directory)).Message);
        Touch("model.safetensors.index.json", "{\"weight_map\": {\"w\": \"model-1.safetensors\", \"v\": \"model-2.safetensors\"}}");
        Touch("model-1.safetensors");
        var missingShard = Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(directory));
        Assert.Contains("model-2.safetensors", missingShard.Message);
        Touch("model-2.safetensors");
        Assert.Contains("no tokenizer", Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(directory)).Message);
        Touch("vocab.json");
        Touch("merges.txt");

        var location = ModelLocator.Locate(Path.Combine(directory, "config.json"));
        Assert.Equal(ModelFormat.HuggingFace, location.Format);
        Assert.Equal(directory, location.ModelPath);
        Assert.Equal(directory, location.TokenizerPath);
        Assert.Equal(Path.Combine(directory, "config.json"), location.Config);
        Assert.Equal(["model-1.safetensors", "model-2.safetensors"], location.Checkpoints.Select(Path.GetFileName));
        Assert.Equal(["vocab.json", "merges.txt"], location.TokenizerFiles.Select(Path.GetFileName));
    }

    [Fact]
    public void A_named_tokenizer_replaces_the_search_beside_the_model()
    {
        string model = Touch("model.bin");
        string tokenizer = Path.Combine(Directory.CreateTempSubdirectory("locator-tok-").FullName, "tok512.bin");
        Assert.Equal(tokenizer, ModelLocator.Locate(model, tokenizer: tokenizer).TokenizerPath);
        Touch("tok512.bin");
        Touch("tok4096.bin");
        Assert.Equal(tokenizer, ModelLocator.Locate(directory, tokenizer: tokenizer).TokenizerPath);
        Directory.Delete(Path.GetDirectoryName(tokenizer)!);
    }

    [Theory]
    [InlineData("bad/x.bin")]
    [InlineData("./models/x")]
    [InlineData("models/llama/model.safetensors")]
    public void A_missing_path_says_so_and_never_asks_the_hub(string model)
    {
        // A hub that cannot be reached: asking it would fail with "cannot reach".
        var options = new HubOptions { Endpoint = "http://127.0.0.1:9", CacheDirectory = directory };
        var error = Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(model, options));
        Assert.StartsWith($"model '{model}': no such file or directory", error.Message);
        Assert.Contains("does not exist", error.Message);
        Assert.DoesNotContain("hub", error.Message);
    }

    [Fact]
    public void A_value_that_may_be_a_path_or_a_hub_id_says_first_that_the_path_does_not_exist()
    {
        var options = new HubOptions { Endpoint = "http://127.0.0.1:9", CacheDirectory = directory };
        var error = Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate("bad/model", options));
        Assert.StartsWith("model 'bad/model': no such file or directory", error.Message);
        Assert.True(error.Message.IndexOf("does not exist", StringComparison.Ordinal) < error.Message.IndexOf("hub", StringComparison.Ordinal), error.Message);
        Assert.Contains("cannot reach", error.Message);
    }

    [Fact]
    public void Neither_a_path_nor_a_hub_id_is_an_error_naming_the_value()
    {
        var error = Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate("./no/such/model.bin"));
        Assert.Contains("'./no/such/model.bin'", error.Message);
        Assert.Contains("not a model", Assert.Throws<NeuronExplainerException>(() => ModelLocator.Locate(Touch("notes.txt"))).Message);
    }

    [Theory]
    [InlineData("gpt2", "gpt2", "", "main")]
    [InlineData("gpt2-xl@main", "gpt2-xl", "", "main")]
    [InlineData("openai-community/gpt2", "openai-community/gpt2", "", "main")]
    [InlineData("karpathy/tinyllamas/stories260K", "karpathy/tinyllamas", "stories260K", "main")]
    [InlineData("org/name/a/b@refs/pr/1", "org/name", "a/b", "refs/pr/1")]
    public void Hub_ids_split_into_repository_folder_and_revision(string value, string repo, string folder, string revision)
    {
        Assert.True(HubModelId.TryParse(value, out var id));
        Assert.Equal((repo, folder, revision), (id.Repo.Id, id.Folder, id.Repo.Revision));
    }

    [Theory]
    [InlineData("/abs/path")]
    [InlineData("../up")]
    [InlineData("org/../x")]
    [InlineData("a b")]
    [InlineData("")]
    public void Paths_are_not_hub_ids(string value) => Assert.False(HubModelId.TryParse(value, out _));

    [Fact]
    public void Revisions_with_slashes_get_one_cache_folder_and_urls_escape_them()
    {
        var options = new HubOptions { Endpoint = "https://hub.example", CacheDirectory = directory };
        var repo = new HubRepo(HubRepoKind.Model, "org/name", "refs/pr/1");
        Assert.Equal(Path.Combine(directory, "models--org--name", "snapshots", "refs%2Fpr%2F1"), HubCache.SnapshotDirectory(options, repo));
        Assert.Equal("https://hub.example/org/name/resolve/refs%2Fpr%2F1/sub/file%20name.bin", repo.ResolveUrl(options.Endpoint, "sub/file name.bin"));
        Assert.Throws<NeuronExplainerException>(() => HubCache.LocalPath(options, repo, "../escape"));
    }
}

public class HubOptionsTests
{
    [Fact]
    public void Environment_variables_set_endpoint_token_cache_and_offline_mode()
    {
        var env = new Dictionary<string, string>
        {
            ["HF_ENDPOINT"] = "https://mirror.example/",
            ["HF_TOKEN"] = "hf_secret",
            ["HF_HOME"] = "/data/hf",
            ["HF_HUB_OFFLINE"] = "1",
        };
        var options = HubOptions.FromEnvironment(name => env.GetValueOrDefault(name));
        Assert.Equal("https://mirror.example", options.Endpoint);
        Assert.Equal("hf_secret", options.Token);
        Assert.Equal(Path.Combine("/data/hf", "hub"), options.CacheDirectory);
        Assert.True(options.Offline);
        Assert.DoesNotContain("hf_secret", options.ToString());

        env["HF_HUB_CACHE"] = "/fast/hub";
        Assert.Equal("/fast/hub", HubOptions.FromEnvironment(name => env.GetValueOrDefault(name)).CacheDirectory);

        var defaults = HubOptions.FromEnvironment(_ => null);
        Assert.Equal(HubOptions.DefaultEndpoint, defaults.Endpoint);
        Assert.Null(defaults.Token);
        Assert.False(defaults.Offline);
        Assert.EndsWith(Path.Combine(".cache", "huggingface", "hub"), defaults.CacheDirectory);
    }
}
