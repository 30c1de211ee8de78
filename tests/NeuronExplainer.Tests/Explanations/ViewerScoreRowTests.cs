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

    static ExplanationFlow Flow(string text) =>
        new(new ExplanationFlowTests.FixedExplainer(text), new BaselineSimulator(), new ExplanationFlowOptions());
}
