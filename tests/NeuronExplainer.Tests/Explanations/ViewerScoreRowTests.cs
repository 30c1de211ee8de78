using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>The viewer's per-neuron score is the neuron's own scored result, never a control or a pending calibration score.</summary>
public sealed class ViewerScoreRowTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-view-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Control_and_pending_results_do_not_become_the_neurons_score()
    {
        var record = SyntheticNeurons.Cat();
        var input = new ExplainerInput(record, null);
        var weak = await Flow("tokens \"named\" (5.0)").ExplainAndScoreAsync(input, CancellationToken.None);
        var strong = await Flow("tokens \"cat\" (9.0)").ExplainAndScoreAsync(input, CancellationToken.None);
        var pending = await Flow("tokens \"cat\" (9.0); right after \"named\" (6.0)").ExplainAsync(input, CancellationToken.None);
        double weakScore = weak.Results!.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore!.Value;
        Assert.True(strong.Results!.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore > weakScore);

        using var store = SqliteNeuronStore.Open(directory);
        store.PutNeuronRecords([record]);
        store.PutExplanationResult(weak with { Explainer = "baseline" });
        store.PutExplanationResult(strong with { Explainer = ShuffledControl.ExplainerName("baseline"), Control = ControlKind.Shuffled });
        store.PutExplanationResult(pending with { Explainer = "other" });

        var row = Assert.Single(new ViewerQueries(store).Layer(0)!.Neurons);
        Assert.Equal(weakScore, row.Score);
        Assert.Equal("baseline", row.Explainer);
    }

    [Fact]
    public void The_summarys_method_scores_from_the_stores_totals_equal_those_computed_from_every_method_score()
    {
        using var store = SqliteNeuronStore.Open(directory);
        var random = new Random(9);
        string control = ShuffledControl.ExplainerName("baseline");
        for (int i = 0; i < 120; i++)
        {
            var id = new NeuronExplainer.Activations.NeuronId(random.Next(3), random.Next(20));
            MethodScore Method(string method) => random.Next(4) switch
            {
                0 => MethodScore.Failure(method, "no"),
                1 => new MethodScore(method, null, "constant"),
                _ => new MethodScore(method, random.NextDouble() * 2 - 1, null),
            };
            bool isControl = random.Next(4) == 0;
            string explainer = isControl ? control : random.Next(4) == 0 ? "other" : "baseline";
            store.PutExplanationResult(Tests.Storage.StoreFixtures.Done(id, explainer, "words") with
            {
                Control = isControl ? ControlKind.Shuffled : ControlKind.None,
                Scores = [.. new[] { "detection", "simulation-correlation" }.Where(_ => random.Next(3) > 0).Select(Method)],
            });
        }
        var summary = new ViewerQueries(store).Summary("baseline", "baseline");
        var methods = summary.MethodScores.Select(m => m.Method).Distinct().ToList();
        Assert.Equal(["detection", "simulation-correlation"], methods);
        var expected = RunSummary.ByMethod(store, store.ListNeurons(), "baseline", "baseline", methods);
        Assert.Equal(expected.Count, summary.MethodScores.Count);
        foreach (var (want, got) in expected.Zip(summary.MethodScores))
        {
            Assert.Equal((want.Layer, want.Method, want.Scores.Defined, want.Scores.Undefined, want.Failed, want.ControlScored),
                (got.Layer, got.Method, got.Scores.Defined, got.Scores.Undefined, got.Failed, got.ControlScored));
            Assert.Equal(want.Scores.Mean ?? double.NaN, got.Scores.Mean ?? double.NaN, 1e-12);
            Assert.Equal(want.Scores.ShareAtLeastGood ?? double.NaN, got.Scores.ShareAtLeastGood ?? double.NaN, 1e-12);
            Assert.Equal(want.ControlMean ?? double.NaN, got.ControlMean ?? double.NaN, 1e-12);
        }
    }

    static ExplanationFlow Flow(string text) =>
        new(new ExplanationFlowTests.FixedExplainer(text), new BaselineSimulator(), new ExplanationFlowOptions());
}
