using NeuronExplainer.Cli;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Activations;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>
/// A small version of the offline end to end: <c>run</c> on stories260K over the head of TinyStories with the
/// baseline pair and the shuffled control.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class OfflineRunTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-run-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Run_collects_explains_and_scores_a_layer_of_stories260K_and_resumes()
    {
        string model = SharedData.Path("models/stories260K/stories260K.bin"), corpus = SharedData.Path("corpora/tinystories-train-head.txt");
        string[] args = ["run", "--model", model, "--tokenizer", Path.Combine(Path.GetDirectoryName(model)!, "tok512.bin"), "--corpus", corpus,
            "--store", directory, "--layers", "0", "--max-tokens", "30000", "--top-k", "20", "--random", "12", "--control", "shuffled",
            "--scorers", "simulation,detection,fuzzing"];

        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.True(CliApp.Run(args, output, error) == 0, error.ToString());
        Assert.Contains("Explained and scored 172 neurons, 0 already done; control: ", output.ToString());

        using (var store = SqliteNeuronStore.OpenExisting(directory))
        {
            var scores = store.ListScores(0);
            var real = scores.Where(s => s is { Explainer: "baseline", Status: NeuronStatus.Done, Score: not null }).Select(s => s.Score!.Value).ToList();
            var control = scores.Where(s => s is { Explainer: "shuffled:baseline", Status: NeuronStatus.Done, Score: not null }).Select(s => s.Score!.Value).ToList();
            Assert.True(real.Count > 150, $"{real.Count} neurons scored");
            Assert.True(real.Average() > 0.3, $"mean score {real.Average()}");
            Assert.True(Math.Abs(control.Average()) < 0.1, $"control mean {control.Average()}");
            Assert.All(scores.Where(s => s.Explainer == "baseline"), s => Assert.True(s.Status is NeuronStatus.Done or NeuronStatus.NoActivations, $"{s.Neuron} {s.Status}"));

            // Detection and fuzzing by the offline judge: better than chance with the neuron's own explanation, at chance
            // with another neuron's.
            var methods = store.ListMethodScores(0);
            foreach (var method in new[] { "detection", "detection-auc", "fuzzing", "fuzzing-auc" })
            {
                double Mean(ControlKind control) => methods.Where(r => r.Control == control && r.Score.Method == method && r.Score.Value is not null)
                    .Average(r => r.Score.Value!.Value);
                Assert.True(Math.Abs(Mean(ControlKind.Shuffled) - 0.5) < 0.05, $"{method} control mean {Mean(ControlKind.Shuffled)}");
                Assert.True(Mean(ControlKind.None) > 0.55, $"{method} mean {Mean(ControlKind.None)}");
            }
        }
        var summaryRow = output.ToString().Split('\n').First(l => l.TrimStart().StartsWith("0 ", StringComparison.Ordinal));
        Assert.Contains("172", summaryRow);

        var again = new StringWriter();
        Assert.Equal(0, CliApp.Run(args, again, new StringWriter()));
        Assert.Contains("Explained and scored 0 neurons, 172 already done", again.ToString());
    }
}
