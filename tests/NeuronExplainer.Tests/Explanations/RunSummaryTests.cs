using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Tests.Storage;
using NeuronExplainer.Tests.Viewer;

namespace NeuronExplainer.Tests.Explanations;

public sealed class RunSummaryTests : IDisposable
{
    readonly TempStore temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void A_simulator_that_predicts_a_constant_does_not_look_better_than_one_that_tries()
    {
        var neurons = Enumerable.Range(0, 4).Select(n => new NeuronId(0, n)).ToList();
        temp.Store.PutNeuronRecords([.. neurons.Select(ViewerFixture.Record)]);
        // A constant prediction has no correlation: undefined on three neurons, and one lucky neuron where it varied.
        double?[] trying = [0.5, 0.45, 0.4, 0.35], constant = [null, null, null, 0.9];
        foreach (var (simulator, scores) in new[] { ("trying", trying), ("constant", constant) })
            for (int n = 0; n < neurons.Count; n++)
                temp.Store.PutExplanationResult(ViewerFixture.Result(neurons[n], ["words"], [scores[n]], chosen: 0, simulator: simulator));

        var tries = RunSummary.Build(temp.Store, neurons, "baseline", "trying")[^1].Scores;
        var flat = RunSummary.Build(temp.Store, neurons, "baseline", "constant")[^1].Scores;

        Assert.Equal((1, 3), (flat.Defined, flat.Undefined));
        Assert.True(flat.Mean > tries.Mean, "over defined scores alone the constant simulator looks better; that is why both are shown");
        Assert.Equal(0.225, flat.MeanUndefinedAsZero!.Value, 12);
        Assert.Equal(0.425, tries.MeanUndefinedAsZero!.Value, 12);
        Assert.Equal((1.0, 0.25), (flat.ShareAtLeastGood, flat.ShareAtLeastGoodUndefinedAsZero));
        Assert.Equal(tries.Mean, tries.MeanUndefinedAsZero);
    }
}
