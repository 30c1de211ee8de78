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
        public IReadOnlyList<string> Methods => ["excerpt-count"];

        public Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<MethodScore>>([new MethodScore(Methods[0], input.Valid.ScoredSequenceSimulations.Count, null)]);
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
    public async Task Valid_scores_bootstrap_top_and_random_excerpts_separately_and_report_each_alone()
    {
        var record = SyntheticNeurons.Cat();
        var flow = new ExplanationFlow(new FixedExplainer("tokens \"cat\" (9.0)"), new BaselineSimulator(), new ExplanationFlowOptions(BootstrapSeed: 7));
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(record, null), None);
        var valid = result.Results!.ScoredExplanations[0].ScoredSimulation;
        var top = record.TopRecords("valid");
        int n = Math.Min(top.Count, record.RandomRecords("valid").Count);
        int[] strata = [.. Enumerable.Range(0, 2 * n).Select(i => i < n ? 0 : 1)];
        Assert.Equal(strata, ExplanationFlow.TopRandomStrata(record, "valid"));
        Assert.Equal(top.Take(n).Select(r => r.Activations), valid.ScoredSequenceSimulations.Take(n).Select(s => s.TrueActivations));

        var stratified = SimulationScorer.Aggregate(valid.ScoredSequenceSimulations, 7, strata: strata).EvCorrelationInterval;
        Assert.Equal(stratified, valid.EvCorrelationInterval);
        Assert.NotEqual(SimulationScorer.Aggregate(valid.ScoredSequenceSimulations, 7).EvCorrelationInterval, valid.EvCorrelationInterval);

        var (topOnly, randomOnly) = ExplanationFlow.TopAndRandomScores(record, valid);
        static double Pooled(IEnumerable<ScoredSequenceSimulation> s) =>
            ActivationScores.Correlation([.. s.SelectMany(x => x.TrueActivations)], [.. s.SelectMany(x => x.Simulation.ExpectedActivations)]).Value!.Value;
        Assert.Equal(Pooled(valid.ScoredSequenceSimulations.Take(n)), topOnly.Value!.Value, 12);
        Assert.Equal(Pooled(valid.ScoredSequenceSimulations.Skip(n)), randomOnly.Value!.Value, 12);
    }

    [Fact]
    public void Calibration_halves_are_disjoint_cover_calibration_and_keep_top_and_random_balanced()
    {
        var record = SyntheticNeurons.Cat();
        var calibration = record.CalibrationRecords();
        var (shown, judging) = ExplanationFlow.CalibrationHalves(record);
        Assert.Equal(calibration.Count, shown.Length);
        Assert.All(Enumerable.Range(0, shown.Length), i => Assert.True(shown[i] ^ judging[i]));
        var top = record.TopRecords("calibration").ToHashSet(ReferenceEqualityComparer.Instance);
        int Tops(bool[] half) => calibration.Where((r, i) => half[i] && top.Contains(r)).Count();
        Assert.Equal(Tops(shown), shown.Count(x => x) - Tops(shown));
        Assert.Equal(Tops(judging), judging.Count(x => x) - Tops(judging));
        Assert.True(Tops(judging) > 0);
    }

    [Fact]
    public async Task Revision_counterexamples_come_only_from_one_calibration_half_and_valid_is_never_seen()
    {
        var record = SyntheticNeurons.Cat();
        var (_, judging) = ExplanationFlow.CalibrationHalves(record);
        var judged = record.CalibrationRecords().Where((_, i) => judging[i]).ToList();
        // The current explanation simulates every excerpt perfectly except one of the judging half, the worst excerpt of all
        // calibration: counterexamples picked over all of calibration would show it to the explainer.
        var simulator = new HalvesSimulator(record, flipOneJudging: "current");
        var explainer = new FixedExplainer(["current"], revision: "revised");
        var result = await new ExplanationFlow(explainer, simulator, new ExplanationFlowOptions(Revisions: 2)).ExplainAsync(new ExplainerInput(record, null), None);

        Assert.Equal(NeuronStatus.Pending, result.Status);
        Assert.Equal(2, explainer.AllCounterexamples.Count);
        var shownTokens = explainer.AllCounterexamples.SelectMany(c => c).Select(c => c.Record.Tokens).ToList();
        Assert.NotEmpty(shownTokens);
        Assert.All(shownTokens, t => Assert.DoesNotContain(judged, r => r.Tokens.SequenceEqual(t)));
        Assert.All(shownTokens, t => Assert.Contains(record.CalibrationRecords(), r => r.Tokens.SequenceEqual(t)));
        // Nothing of the valid split is simulated, shown or used for any choice before scoring (an excerpt drawn both as a
        // top and as a random one can sit in calibration and valid alike; it is calibration data here).
        var calibrationTokens = record.CalibrationRecords().Select(r => r.Tokens).ToHashSet(ReferenceEqualityComparer.Instance);
        var valid = record.ValidRecords().Select(r => r.Tokens).Where(t => !calibrationTokens.Contains(t)).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.NotEmpty(valid);
        Assert.DoesNotContain(simulator.Seen, valid.Contains);
        Assert.DoesNotContain(shownTokens, valid.Contains);
    }

    [Theory]
    // Better on the judging half, worse over all calibration: kept.
    [InlineData("flip-one-judging", "flip-counterexample-half", true)]
    // Better over all calibration, worse on the judging half: not kept.
    [InlineData("flip-counterexample-half", "flip-one-judging", false)]
    public async Task Whether_a_revision_is_kept_is_decided_on_the_judging_half_alone(string current, string revised, bool kept)
    {
        var record = SyntheticNeurons.Cat();
        var simulator = new HalvesSimulator(record, flipOneJudging: "flip-one-judging");
        var result = await new ExplanationFlow(new FixedExplainer([current], revision: revised), simulator, new ExplanationFlowOptions(Revisions: 1))
            .ExplainAsync(new ExplainerInput(record, null), None);
        var candidates = result.Results!.ScoredExplanations;
        // Over all calibration the two rank the other way round from the judging half.
        Assert.Equal(!kept, candidates[1].ScoredSimulation.EvCorrelationScore > candidates[0].ScoredSimulation.EvCorrelationScore);
        Assert.Equal(kept ? 1 : 0, result.ChosenIndex);
        if (!kept) Assert.Contains("revision 1 not kept: its score on the judging half of calibration", result.Reason);
    }

    [Fact]
    public async Task R_squared_and_absolute_deviation_are_in_activation_units_or_undefined_when_calibration_is_rejected()
    {
        var record = SyntheticNeurons.Cat();
        var simulator = new HalvesSimulator(record, flipOneJudging: "none");
        var rejected = await new ExplanationFlow(new FixedExplainer("flip-calibration"), simulator, new ExplanationFlowOptions())
            .ExplainAndScoreAsync(new ExplainerInput(record, null), None);
        var scored = rejected.Results!.ScoredExplanations[0].ScoredSimulation;
        // The simulation falls as activations rise on calibration, so there is no line to activation units; on valid it is
        // right except on the few excerpts drawn as both a top and a random one, which sit in calibration too.
        Assert.True(scored.EvCorrelationScore > 0.5, $"score {scored.EvCorrelationScore}");
        Assert.Null(scored.RsquaredScore);
        Assert.Null(scored.AbsoluteDevExplainedScore);
        Assert.All(scored.ScoredSequenceSimulations, s => Assert.Null(s.RsquaredScore));
        Assert.Contains("candidate 1: R^2 and absolute deviation undefined, the calibration to activation units was rejected: the simulation does not rise", rejected.Reason);

        var accepted = await new ExplanationFlow(new FixedExplainer("truth"), simulator, new ExplanationFlowOptions())
            .ExplainAndScoreAsync(new ExplainerInput(record, null), None);
        var good = accepted.Results!.ScoredExplanations[0].ScoredSimulation;
        Assert.All(good.ScoredSequenceSimulations, s => Assert.Equal(ActivationScale.NeuronActivations, s.Simulation.ActivationScale));
        Assert.True(good.RsquaredScore > 0.99, $"R^2 {good.RsquaredScore}");
        Assert.True(good.AbsoluteDevExplainedScore > 0.95, $"absolute deviation explained {good.AbsoluteDevExplainedScore}");
        // The explain step's calibration-split scores are on the 0..10 scale: only their correlation is defined.
        var explained = await new ExplanationFlow(new FixedExplainer("truth"), simulator, new ExplanationFlowOptions()).ExplainAsync(new ExplainerInput(record, null), None);
        Assert.Null(explained.Results!.ScoredExplanations[0].ScoredSimulation.RsquaredScore);
        Assert.NotNull(explained.Results!.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore);
    }

    /// <summary>
    /// Predicts the true 0..10 values, reversed (10 - value) on every calibration excerpt for explanation "flip-calibration",
    /// on the whole counterexample half for explanation
    /// "flip-counterexample-half", and reversed on the first judging-half excerpt only for <paramref name="flipOneJudging"/>.
    /// Records every excerpt it is asked about.
    /// </summary>
    sealed class HalvesSimulator(NeuronRecord record, string flipOneJudging) : ISimulator
    {
        readonly List<ActivationRecord> calibration = [.. record.CalibrationRecords()];
        readonly bool[] shown = ExplanationFlow.CalibrationHalves(record).Counterexamples;

        public List<IReadOnlyList<string>> Seen { get; } = [];

        public string Name => "halves";

        public Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
            CancellationToken cancellationToken)
        {
            Seen.AddRange(excerpts);
            int firstJudging = Array.IndexOf(shown, false);
            return Task.FromResult(SimulationOutcome.Of([.. excerpts.Select(tokens =>
            {
                int i = calibration.FindIndex(r => ReferenceEquals(r.Tokens, tokens));
                var truth = i >= 0 ? calibration[i].Activations : record.ValidRecords().First(r => ReferenceEquals(r.Tokens, tokens)).Activations;
                bool flip = i >= 0 && (explanation == "flip-calibration" || explanation == "flip-counterexample-half" && shown[i]
                    || explanation == flipOneJudging && i == firstJudging);
                double[] values = [.. truth.Select(a => 10 * a / record.MaxActivation).Select(v => flip ? 10 - v : v)];
                return new SequenceSimulation(tokens, values, ActivationScale.SimulatedNormalizedActivations, [], []);
            })]));
        }
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

        public IReadOnlyList<Counterexample>? LastCounterexamples => AllCounterexamples.LastOrDefault();

        public List<IReadOnlyList<Counterexample>> AllCounterexamples { get; } = [];

        public string Name => "fixed";

        public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<ExplanationAttempt>>([.. texts.Take(samples).Select(ExplanationAttempt.FromText)]);

        public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
            CancellationToken cancellationToken)
        {
            AllCounterexamples.Add(counterexamples);
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
