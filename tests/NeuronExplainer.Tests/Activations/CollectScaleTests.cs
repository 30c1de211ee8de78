using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// Issue 10's failures, through the CLI as a user met them: a GPT-2-layout model with random weights (written by
/// <c>bench gpt2-model</c>) over WebText, where collect used to fail with "Stream was too long" at the final checkpoint
/// (4,608 tokens) or "NOT NULL constraint failed: checkpoints.state" (512 tokens).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class CollectScaleTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>
    /// GPT-2's 12 layers in the Hugging Face layout and its tokenizer, narrower than GPT-2 small (d_model 64, 256
    /// neurons a layer) so the test stays short; collection runs the same code as at full width.
    /// </summary>
    string Gpt2Model()
    {
        string model = temp.Sub("gpt2-12-layers");
        var (code, _, err) = Run("bench", "gpt2-model", "--out", model, "--tokenizer", SharedData.Path("models/gpt2-tokenizer"),
            "--layers", "12", "--d-model", "64", "--d-mlp", "256", "--heads", "2", "--context", "128");
        Assert.True(code == 0, err);
        return model;
    }

    [Theory]
    [InlineData(4608)]
    [InlineData(512)]
    public void A_twelve_layer_gpt2_collection_over_webtext_checkpoints_and_completes(int tokens)
    {
        string store = temp.Sub("store");
        var (code, output, err) = Run("collect", "--model", Gpt2Model(), "--corpus", SharedData.Path("corpora/webtext-test.jsonl"),
            "--store", store, "--max-tokens", tokens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, err);
        Assert.Contains("3072 (12 layers x 256)", output);
        // --max-tokens stops at whole windows, so a little under the cap.
        var corpus = System.Text.RegularExpressions.Regex.Match(output, @"([\d,]+) windows, ([\d,]+) tokens");
        int Number(int group) => int.Parse(corpus.Groups[group].Value.Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(Number(2), tokens - 64, tokens);
        using var opened = SqliteNeuronStore.OpenExisting(store);
        Assert.Equal(3072, opened.ListNeurons().Count);
        Assert.Equal(CollectionState.Complete, opened.GetCollectionState());
        Assert.Null(opened.GetCheckpoint(Collector.CheckpointStage));
        Assert.Empty(Directory.GetFiles(store, "collect-checkpoint-*"));
        var record = opened.GetNeuronRecord(new NeuronId(11, 255))!;
        // The top 40 excerpts, or every window when the corpus has fewer (512 tokens make 11).
        Assert.Equal(Math.Min(40, Number(1)), record.MostPositiveActivationRecords.Count);
        Assert.NotNull(opened.GetConnections(new NeuronId(11, 255))!.Upstream);
    }
}
