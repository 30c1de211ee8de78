using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Explanations;

public class ExplanationFlowTests
{
    static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Baseline_explains_and_scores_a_token_neuron_well_on_valid()
    {
        var flow = new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        var chosen = result.Results!.ScoredExplanations[result.ChosenIndex!.Value];
        Assert.True(chosen.ScoredSimulation.EvCorrelationScore > 0.95, $"score {chosen.ScoredSimulation.EvCorrelationScore}");
        var valid = SyntheticNeurons.Cat().ValidRecords();
        Assert.Equal(valid.Count, chosen.ScoredSimulation.ScoredSequenceSimulations.Count);
        // Calibrated to activation units for display, with the 0..10 simulation kept.
        var first = chosen.ScoredSimulation.ScoredSequenceSimulations[0].Simulation;
        Assert.Equal(ActivationScale.NeuronActivations, first.ActivationScale);
        Assert.Equal(ActivationScale.SimulatedNormalizedActivations, first.UncalibratedSimulation!.ActivationScale);
        Assert.InRange(first.ExpectedActivations.Max(), 2.5, 6);
    }

    [Fact]
    public async Task Every_scorer_scores_the_chosen_explanation_by_its_method_and_the_choice_rule_is_named()
    {
        var flow = new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(),
            new ExplanationFlowOptions(Scorers: [new SimulationCorrelationScorer(), new ExcerptCountScorer()]));
        var explained = await flow.ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), None);
        Assert.Equal(ChoiceRule.CalibrationCorrelation, explained.ChosenBy);
        Assert.Empty(explained.Scores);

        var result = await flow.ScoreAsync(SyntheticNeurons.Cat(), explained, None);
        var valid = result.Results!.ScoredExplanations[result.ChosenIndex!.Value].ScoredSimulation;
        Assert.Equal([new MethodScore(SimulationCorrelationScorer.MethodName, valid.EvCorrelationScore, null),
            new MethodScore("excerpt-count", valid.ScoredSequenceSimulations.Count, null)], result.Scores);
    }

    /// <summary>A second scorer, to show the flow stores whatever its scorers give, each by its method.</summary>
    sealed class ExcerptCountScorer : IScorer
    {
        public string Method => "excerpt-count";

        public Task<MethodScore> ScoreAsync(ScorerInput input, CancellationToken cancellationToken) =>
            Task.FromResult(new MethodScore(Method, input.Valid.ScoredSequenceSimulations.Count, null));
    }

    [Fact]
    public async Task A_silent_neuron_is_recorded_as_having_no_activations()
    {
        var flow = new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Silent(), null), None);
        Assert.Equal(NeuronStatus.NoActivations, result.Status);
        Assert.Null(result.Results);
        Assert.Contains("nothing to explain", result.Reason);
    }

    [Theory]
    [InlineData("", "explanation 1 rejected: the explanation is empty")]
    [InlineData("   ", "explanation 1 rejected: the explanation is empty")]
    [InlineData(null, "explanation 1 rejected: the explanation is 601 characters long")]
    public async Task Empty_or_over_long_explanations_fail_with_a_reason_and_no_score(string? text, string reason)
    {
        var flow = new ExplanationFlow(new FixedExplainer(text ?? new string('x', 601)), new BaselineSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), None);
        Assert.Equal(NeuronStatus.Failed, result.Status);
        Assert.Null(result.Results);
        Assert.Contains(reason, result.Reason);
    }

    [Fact]
    public async Task A_failed_simulation_fails_the_neuron_with_the_reason_never_a_number()
    {
        var flow = new ExplanationFlow(new BaselineExplainer(), new FailingSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), None);
        Assert.Equal(NeuronStatus.Failed, result.Status);
        Assert.Null(result.Results);
        Assert.Contains("server said no", result.Reason);
    }

    [Fact]
    public async Task The_best_sample_on_calibration_is_chosen_and_its_valid_score_reported()
    {
        // Sample 1 names a token that never fires; sample 2 the right one.
        var explainer = new FixedExplainer("tokens \"dog\" (9.0)", "tokens \"cat\" (9.0)");
        var flow = new ExplanationFlow(explainer, new BaselineSimulator(), new ExplanationFlowOptions(Samples: 2));
        var record = SyntheticNeurons.Cat();
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(record, null), None);

        Assert.Equal(1, result.ChosenIndex);
        var chosen = result.Results!.ScoredExplanations[1];
        Assert.Equal("tokens \"cat\" (9.0)", chosen.Explanation);
        // The reported score is computed on the valid excerpts, not the calibration ones.
        Assert.Equal(record.ValidRecords().Select(r => r.Activations),
            chosen.ScoredSimulation.ScoredSequenceSimulations.Select(s => s.TrueActivations));
    }

    [Fact]
    public async Task A_revision_is_kept_only_when_it_scores_better_on_calibration()
    {
        var record = SyntheticNeurons.Cat();
        var better = new FixedExplainer(["tokens \"dog\" (9.0)"], revision: "tokens \"cat\" (9.0)");
        var kept = await new ExplanationFlow(better, new BaselineSimulator(), new ExplanationFlowOptions(Revisions: 1))
            .ExplainAsync(new ExplainerInput(record, null), None);
        Assert.Equal(1, kept.ChosenIndex);
        Assert.Equal(3, better.LastCounterexamples!.Count);

        var worse = new FixedExplainer(["tokens \"cat\" (9.0)"], revision: "tokens \"dog\" (9.0)");
        var dropped = await new ExplanationFlow(worse, new BaselineSimulator(), new ExplanationFlowOptions(Revisions: 1))
            .ExplainAsync(new ExplainerInput(record, null), None);
        Assert.Equal(0, dropped.ChosenIndex);
        Assert.Contains("revision 1 not kept", dropped.Reason);
    }

    [Fact]
    public async Task A_constant_simulation_is_scored_undefined_with_a_reason()
    {
        var flow = new ExplanationFlow(new FixedExplainer("tokens \"zebra\" (9.0)"), new BaselineSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), None);
        Assert.Equal(NeuronStatus.Done, result.Status);
        var scored = result.Results!.ScoredExplanations[0].ScoredSimulation;
        Assert.Null(scored.EvCorrelationScore);
        Assert.False(string.IsNullOrEmpty(scored.UndefinedReason));
    }

    /// <summary>Returns the given texts as its samples and <paramref name="revision"/> when asked to revise.</summary>
    internal sealed class FixedExplainer(IReadOnlyList<string> texts, string? revision = null) : IExplainer
    {
        public FixedExplainer(params string[] texts) : this((IReadOnlyList<string>)texts) { }

        public IReadOnlyList<Counterexample>? LastCounterexamples { get; private set; }

        public string Name => "fixed";

        public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<ExplanationAttempt>>([.. texts.Take(samples).Select(ExplanationAttempt.FromText)]);

        public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
            CancellationToken cancellationToken)
        {
            LastCounterexamples = counterexamples;
            return Task.FromResult(ExplanationAttempt.FromText(revision));
        }
    }

    sealed class FailingSimulator : ISimulator
    {
        public string Name => "failing";

        public Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
            CancellationToken cancellationToken) => Task.FromResult(SimulationOutcome.Failed("server said no"));
    }
}
