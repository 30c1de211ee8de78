using NeuronExplainer.Cli;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Cli;

public class CliConventionTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Version_prints_the_tool_version()
    {
        var (code, output, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.StartsWith(CliApp.ToolVersion, output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", output.Trim());
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("import", "--help")]
    [InlineData("export", "-h")]
    public void Help_exits_0_and_shows_examples(params string[] args)
    {
        var (code, output, _) = Run(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        if (args.Length > 1) Assert.Contains("Examples:", output);
        else Assert.Contains("export", output);
    }

    [Theory]
    [InlineData("no-such-command")]
    [InlineData("export", "--store", "x")]
    [InlineData("import", "--from", "x", "--store", "y", "--bogus")]
    public void Usage_errors_exit_2_with_a_pointer_to_help(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(CliApp.UsageError, code);
        Assert.Empty(output);
        Assert.StartsWith("error: ", error);
        Assert.Contains("Run with --help for usage.", error);
    }

    [Fact]
    public void Failures_exit_1_with_one_line_and_a_stack_trace_only_when_verbose()
    {
        string missing = temp.Sub("missing");
        var (code, _, error) = Run("export", "--store", missing, "--to", temp.Sub("out"));
        Assert.Equal(CliApp.Failure, code);
        Assert.Equal($"error: no store in '{missing}': store.db not found (create one with a run or import)", error.TrimEnd());

        var (verboseCode, _, verboseError) = Run("export", "--store", missing, "--to", temp.Sub("out"), "--verbose");
        Assert.Equal(CliApp.Failure, verboseCode);
        Assert.Contains("NeuronExplainerException", verboseError);
        Assert.Contains("   at ", verboseError);
    }

    [Fact]
    public void Import_then_export_reproduces_OpenAI_files_with_progress_and_summary()
    {
        string store = temp.Sub("store"), output = temp.Sub("out");
        var imported = Run("import", "--from", StoreFixtures.OpenAiLayout, "--store", store);
        Assert.Equal(0, imported.Code);
        Assert.Contains("Imported 2 neurons", imported.Out);
        Assert.Matches(@"import: 2/2 neurons, [0-9.,]+/s \(100%\)", imported.Err);

        var exported = Run("export", "--store", store, "--to", output);
        Assert.Equal(0, exported.Code);
        Assert.Contains("explanation results:                   2", exported.Out);
        StoreFixtures.AssertSameJson(StoreFixtures.OpenAiLayout, output);
    }

    [Fact]
    public void A_bad_import_file_exits_1_naming_the_file()
    {
        string tree = temp.Sub("tree");
        StoreFixtures.CopyTree(StoreFixtures.OpenAiLayout, tree);
        string bad = Path.Combine(tree, "related-tokens", "activation-based", "0", "5.json");
        File.WriteAllText(bad, "{\"dataclass_name\": \"TokenLookupTableSummaryOfNeuron\", \"tokens\": [\" sky\"], \"average_activations\": [1.0, 2.0]}");

        var (code, _, error) = Run("import", "--from", tree, "--store", temp.Sub("store"));
        Assert.Equal(CliApp.Failure, code);
        Assert.Equal($"error: {bad} (line 1, column 109): TokenLookupTableSummaryOfNeuron has 1 tokens but 2 average_activations", error.Split('\n')[^2]);
    }
}
