using System.Diagnostics;
using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// Issue 10's failures, through the CLI as a user met them: a GPT-2-layout model with random weights (written by
/// <c>bench gpt2-model</c>) over WebText, where collect used to fail with "Stream was too long" at the final checkpoint
/// (4,608 tokens) or "NOT NULL constraint failed: checkpoints.state" (512 tokens); a collect killed with SIGKILL
/// after a checkpoint.
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

    /// <summary>
    /// The CLI's collect in a child process, killed with SIGKILL once the store names a checkpoint and before the pass
    /// ends; collect run again resumes and ends with exactly the records, tables and weight views of an uninterrupted run.
    /// </summary>
    [Fact]
    public async Task A_collect_killed_with_sigkill_after_a_checkpoint_resumes_to_the_records_of_an_uninterrupted_run()
    {
        string[] Collect(string store) =>
        [
            "collect", "--model", SharedData.Path("models/stories260K/stories260K.bin"), "--corpus", SharedData.Path("corpora/tinystories-train-head.txt"),
            "--store", store, "--max-tokens", "600000", "--top-k", "10", "--random", "10", "--seed", "3", "--checkpoint-every", "256",
        ];
        string reference = temp.Sub("uninterrupted"), killed = temp.Sub("killed");

        var start = new ProcessStartInfo("dotnet", ["exec", Path.Combine(AppContext.BaseDirectory, "neuron-explainer.dll"), .. Collect(killed)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        // Generous: on a loaded machine the child's census and first 256 windows can take minutes.
        var clock = Stopwatch.StartNew();
        while (!process.HasExited && !HasCheckpoint(killed))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(30), "no checkpoint within 30 minutes");
            await Task.Delay(20);
        }
        // The message is built only on failure: awaiting the child's output first would wait for it to finish.
        if (process.HasExited) Assert.Fail("collect finished before it could be killed after its first checkpoint; " + string.Join("\n", await drain));
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        await drain;
        Assert.Equal(137, process.ExitCode);
        using (var store = SqliteNeuronStore.OpenExisting(killed))
        {
            Assert.NotNull(store.GetCheckpoint(Collector.CheckpointStage));
            Assert.Empty(store.ListNeurons());
        }

        var (code, _, err) = Run(Collect(reference));
        Assert.True(code == 0, err);
        (code, var output, err) = Run(Collect(killed));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from a checkpoint", output);
        AssertSameCollection(reference, killed);
    }

    static bool HasCheckpoint(string directory)
    {
        // The file comes first, then the store's row naming it; only then is the store opened.
        if (!Directory.Exists(directory) || Directory.GetFiles(directory, "collect-checkpoint-*.bin").Length == 0) return false;
        try
        {
            using var store = SqliteNeuronStore.OpenExisting(directory, StoreAccess.ReadOnly);
            return store.GetCheckpoint(Collector.CheckpointStage) is not null;
        }
        catch (NeuronExplainerException)
        {
            return false; // created but not yet migrated, or busy: look again
        }
    }

    /// <summary>Every neuron's record, token tables, weight-based tokens and connections, byte for byte as stored JSON.</summary>
    static void AssertSameCollection(string expected, string actual)
    {
        using var a = SqliteNeuronStore.OpenExisting(expected);
        using var b = SqliteNeuronStore.OpenExisting(actual);
        var ids = a.ListNeurons();
        Assert.Equal(ids, b.ListNeurons());
        foreach (var id in ids)
        {
            Assert.Equal(JsonSerializer.Serialize(a.GetNeuronRecord(id), DatasetJson.Default.NeuronRecord), JsonSerializer.Serialize(b.GetNeuronRecord(id), DatasetJson.Default.NeuronRecord));
            Assert.Equal(JsonSerializer.Serialize(a.GetActivationBasedTokens(id), DatasetJson.Default.TokenLookupTableSummaryOfNeuron),
                JsonSerializer.Serialize(b.GetActivationBasedTokens(id), DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
            Assert.Equal(JsonSerializer.Serialize(a.GetWeightBasedTokens(id), DatasetJson.Default.WeightBasedSummaryOfNeuron),
                JsonSerializer.Serialize(b.GetWeightBasedTokens(id), DatasetJson.Default.WeightBasedSummaryOfNeuron));
            Assert.Equal(JsonSerializer.Serialize(a.GetConnections(id), DatasetJson.Default.NeuronConnections),
                JsonSerializer.Serialize(b.GetConnections(id), DatasetJson.Default.NeuronConnections));
        }
    }
}
