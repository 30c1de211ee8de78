using NeuronExplainer.Cli;
using NeuronExplainer.Tests.Tokenizers;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Hub;

public class DownloadCommandTests
{

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void A_local_llama2c_checkpoint_is_reported_with_its_tokenizer()
    {
        string bin = SharedData.Path("models", "stories260K", "stories260K.bin");
        var (code, output, _) = Run("download", bin);
        Assert.Equal(0, code);
        Assert.Contains("format      Llama2c", output);
        Assert.Contains($"checkpoint  {bin}", output);
        Assert.Contains("tok512.bin", output);
    }

    [Fact]
    public void Missing_arguments_and_bad_models_fail_with_one_line()
    {
        var (code, _, error) = Run("download");
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("give a model", error);

        (code, _, error) = Run("download", "--dataset", "org/data");
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("--pattern", error);

        (code, _, error) = Run("download", "./no/such/dir/model.bin");
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("no such file or directory", error);
    }

    [Fact]
    public void Help_shows_examples()
    {
        var (code, output, _) = Run("download", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Examples:", output);
    }
}
