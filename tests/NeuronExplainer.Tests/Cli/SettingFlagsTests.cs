using System.Text.RegularExpressions;
using NeuronExplainer.Activations;
using NeuronExplainer.Cli;
using NeuronExplainer.Llm;
using NeuronExplainer.Tests.Activations;

namespace NeuronExplainer.Tests.Cli;

/// <summary>Library errors name the setting and value; the CLI shows the flag that sets it, and no flag that does not exist.</summary>
public class SettingFlagsTests
{
    static SettingException Invalid(CollectionSettings settings) =>
        Assert.Throws<SettingException>(() => settings.Validate(new FakeModel().Info));

    [Fact]
    public void A_collection_setting_error_names_the_setting_and_the_cli_names_its_flag()
    {
        var e = Invalid(new CollectionSettings { TopK = 0 });
        Assert.Equal(("CollectionSettings.TopK", "is 0; expected 1..10000"), (e.Setting, e.Problem));
        Assert.Equal("--top-k is 0; expected 1..10000", SettingFlags.Message(e));
        Assert.Equal("--layers names layer 9 but fake has layers 0..2", SettingFlags.Message(Invalid(new CollectionSettings { Layers = [9] })));
    }

    [Fact]
    public void A_setting_without_a_flag_keeps_the_library_name_instead_of_inventing_one()
    {
        var e = Invalid(new CollectionSettings { TokenTableSize = 0 });
        Assert.Equal("CollectionSettings.TokenTableSize is 0; expected 1..10000", SettingFlags.Message(e));
        Assert.Equal("--checkpoint-every is 0; expected at least 1", SettingFlags.Message(Invalid(new CollectionSettings { CheckpointWindows = 0 })));
    }

    [Fact]
    public void Llm_setting_errors_name_the_setting_and_value_and_the_cli_its_flag()
    {
        var url = Assert.Throws<SettingException>(() => LlmEndpoint.Parse("ftp://example.com/v1", "KEY"));
        Assert.Equal(("LlmEndpoint.BaseUrl", "'ftp://example.com/v1' is not an http(s) URL; expected one such as http://localhost:8000/v1"), (url.Setting, url.Problem));
        Assert.StartsWith("--base-url 'ftp://example.com/v1'", SettingFlags.Message(url));
        var concurrency = Assert.Throws<SettingException>(() => new LlmPipeline(new Tests.Explanations.ScriptedLlmClient(), new LlmEndpoint(new Uri("http://127.0.0.1:1/v1")),
            new LlmPipelineOptions { Concurrency = 0 }, PriceTable.Default, new Tests.Llm.InMemoryLlmStore()));
        Assert.Equal(("LlmPipelineOptions.Concurrency", "is 0; expected at least 1"), (concurrency.Setting, concurrency.Problem));
        Assert.Equal("--concurrency is 0; expected at least 1", SettingFlags.Message(concurrency));
    }

    [Fact]
    public void Settings_and_advice_mentioned_inside_any_message_become_flags_and_unknown_names_stay()
    {
        var e = new NeuronExplainerException($"too big; raise CollectionSettings.MemoryBudget or collect fewer CollectionSettings.Layers at a time; {Collector.StartOverAdvice}");
        Assert.Equal("too big; raise --memory or collect fewer --layers at a time; run collect with --force to start over", SettingFlags.Message(e));
        Assert.Equal("model Qwen2.5 in Store.db, CollectionSettings.TokenTableSize", SettingFlags.Text("model Qwen2.5 in Store.db, CollectionSettings.TokenTableSize"));
    }

    /// <summary>The library names settings, never the CLI's flags: no string literal of its sources holds one.</summary>
    [Fact]
    public void No_string_in_the_library_names_a_cli_flag()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "NeuronExplainer"));
        Assert.True(Directory.Exists(root), root);
        var flags = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => !x.line.TrimStart().StartsWith("//", StringComparison.Ordinal) && Regex.IsMatch(x.line, "\"[^\"]*--[a-z]"))
            .Select(x => $"{Path.GetRelativePath(root, x.f)}:{x.i + 1}: {x.line.Trim()}").ToList();
        Assert.True(flags.Count == 0, string.Join("\n", flags));
    }
}
