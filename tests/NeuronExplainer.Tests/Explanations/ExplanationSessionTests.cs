using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Tests.Storage;
using NeuronExplainer.Tests.Viewer;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>The library's entry point without the CLI: settings checked by name, components from the registry, the control after scoring, the summary.</summary>
public sealed class ExplanationSessionTests : IDisposable
{
    readonly TempStore temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task A_baseline_session_explains_scores_and_runs_the_shuffled_control()
    {
        var store = temp.Store;
        store.PutNeuronRecords([.. Enumerable.Range(0, 3).Select(n =>
            SyntheticNeurons.Make(new NeuronId(0, n), (t, i) => t[i] == SyntheticNeurons.Words[n] ? 4 : 0, seed: n))]);
        using var session = await ExplanationSession.OpenAsync(new ExplanationSettings { Control = ControlKind.Shuffled }, store);
        var neurons = session.SelectNeurons(store, layers: null, neurons: null);

        var counts = await session.RunAsync(store, store, neurons, RunStep.ExplainAndScore);
        Assert.Equal(3, counts.Stored);
        Assert.True(session.ControlFollows(RunStep.ExplainAndScore, counts));
        Assert.False(session.ControlFollows(RunStep.Explain, counts));
        var control = await session.RunControlAsync(store, store, neurons);
        Assert.Equal(3, control.Stored);

        var results = store.ListExplanationResults(0);
        Assert.Equal(3, results.Count(r => r is { Control: ControlKind.None, Explainer: "baseline", Status: NeuronStatus.Done }));
        Assert.Equal(3, results.Count(r => r is { Control: ControlKind.Shuffled, Explainer: "shuffled:baseline", Status: NeuronStatus.Done }));
        var all = session.Summarize(store, neurons)[^1];
        Assert.Equal((3, 3), (all.Done, all.ControlScored));
        Assert.Null(session.Usage);
    }

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

    [Theory]
    [InlineData("Samples", 0, "must be between 1 and 20, got 0")]
    [InlineData("Revisions", 11, "must be between 0 and 10, got 11")]
    [InlineData("Concurrency", 0, "must be between 1 and 256, got 0")]
    public async Task Bad_numbers_name_the_setting_and_value(string setting, int value, string problem)
    {
        var settings = setting switch
        {
            "Samples" => new ExplanationSettings { Samples = value },
            "Revisions" => new ExplanationSettings { Revisions = value },
            _ => new ExplanationSettings { Concurrency = value },
        };
        var e = await Assert.ThrowsAsync<SettingException>(() => ExplanationSession.OpenAsync(settings, temp.Store));
        Assert.Equal(($"ExplanationSettings.{setting}", problem), (e.Setting, e.Problem));
    }

    [Fact]
    public async Task Components_come_from_the_registry_by_name()
    {
        var unknown = await Assert.ThrowsAsync<SettingException>(() =>
            ExplanationSession.OpenAsync(new ExplanationSettings { Explainer = "gpt-4o", Simulator = "gpt-4o", SimulatorMethod = "guess" }, temp.Store));
        Assert.Equal("ExplanationSettings.SimulatorMethod 'guess' is not known; expected chat or all-at-once", unknown.Message);

        var prose = await Assert.ThrowsAsync<SettingException>(() => ExplanationSession.OpenAsync(new ExplanationSettings { Explainer = "gpt-4o" }, temp.Store));
        Assert.Equal("ExplanationSettings.Simulator", prose.Setting);

        Assert.Equal(["baseline", "pairs", "lookup-table"], ExplanationRegistry.Explainers.Select(r => r.Name));
        Assert.Equal(["baseline", "chat", "all-at-once"], ExplanationRegistry.Simulators.Select(r => r.Name));
        var (chat, model) = ExplanationRegistry.Resolve(ExplanationRegistry.Simulators, "gpt-4o-mini", "chat", "SimulatorMethod");
        Assert.Equal(("chat", "gpt-4o-mini"), (chat.Name, model));
        Assert.Equal((BaselineExplainer.BaselineName, (string?)null), ExplanationRegistry.Resolve(ExplanationRegistry.Simulators, "baseline", "chat", "SimulatorMethod") is var (b, m) ? (b.Name, m) : default);
    }
}
