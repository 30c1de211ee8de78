using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>Settings of the per-neuron flow.</summary>
/// <param name="Samples">Explanations written per neuron; the best on calibration is chosen.</param>
/// <param name="Revisions">Revision rounds (--revise): each shows the worst calibration excerpts to the explainer.</param>
/// <param name="Counterexamples">Excerpts of the counterexample half of calibration shown per revision.</param>
/// <param name="BootstrapSeed">Seed of the scores' bootstrap intervals.</param>
/// <param name="Control">Marks every result as a control's (the explainer hands out other neurons' explanations).</param>
/// <param name="Scorers">Score the chosen explanation on the valid split, each stored by method; null for simulation correlation alone.</param>
/// <param name="Protocol">Which excerpts of each split are used; null for <see cref="ExplanationProtocol.Ours"/> (all of them).</param>
public sealed record ExplanationFlowOptions(int Samples = 1, int Revisions = 0, int Counterexamples = 3, int BootstrapSeed = 0,
    ControlKind Control = ControlKind.None, IReadOnlyList<IScorer>? Scorers = null, ExplanationProtocol? Protocol = null);

/// <summary>
/// One neuron's work, in two resumable steps that each end in one stored result.
/// Explain: write explanations from the train split, simulate each on the calibration split, choose the best
/// there, optionally revise it. Revision splits calibration in two disjoint halves (see <see cref="CalibrationHalves"/>):
/// counterexamples come from one, and a revision is kept only if it scores higher on the other, so the excerpts the
/// explainer saw never judge its answer. The result is <see cref="NeuronStatus.Pending"/> with calibration scores. Score: simulate the candidates on the
/// valid split (top and random 1:1), calibrate to activation units, score; the chosen one's valid score is the
/// neuron's score, so choosing on calibration never inflates it. Failures are results with reasons, never scores.
/// </summary>
public sealed class ExplanationFlow(IExplainer explainer, ISimulator simulator, ExplanationFlowOptions options)
{
    public string ExplainerName => explainer.Name;
    public string SimulatorName => simulator.Name;

    public async Task<NeuronExplanationResult> ExplainAsync(ExplainerInput input, CancellationToken cancellationToken)
    {
        input = input with { Record = Excerpts(input.Record) };
        var record = input.Record;
        if (Unexplainable(record) is { } early) return early;

        var notes = new List<string>();
        var candidates = new List<ScoredExplanation>();
        var attempts = await explainer.ExplainAsync(input, options.Samples, cancellationToken);
        for (int i = 0; i < attempts.Count; i++)
        {
            var scored = await ScoreAttemptAsync(record, attempts[i], $"explanation {i + 1}", notes, cancellationToken);
            if (scored is not null) candidates.Add(scored);
        }
        if (candidates.Count == 0)
            return Result(record.NeuronId, NeuronStatus.Failed, "no usable explanation: " + string.Join("; ", notes), null, null);

        int chosen = Best(candidates);
        var (shown, judging) = CalibrationHalves(record);
        if (options.Revisions > 0 && (!shown.Contains(true) || !judging.Contains(true)))
            notes.Add("no revision: calibration has too few excerpts to show counterexamples from one half and judge the revision on the other");
        else
            for (int round = 1; round <= options.Revisions; round++)
            {
                var current = candidates[chosen];
                var counterexamples = Worst(record, current.ScoredSimulation, shown);
                var revision = await explainer.ReviseAsync(input, current.Explanation, counterexamples, cancellationToken);
                var scored = await ScoreAttemptAsync(record, revision, $"revision {round}", notes, cancellationToken);
                if (scored is null) continue;
                candidates.Add(scored);
                ScoredSimulation revised = Judged(scored.ScoredSimulation, judging), before = Judged(current.ScoredSimulation, judging);
                if (ChoiceRule.IsBetter(revised, before)) chosen = candidates.Count - 1;
                else notes.Add($"revision {round} not kept: its score on the judging half of calibration, {Describe(revised)}, is not above {Describe(before)}");
            }
        return Result(record.NeuronId, NeuronStatus.Pending, Join(notes), new NeuronSimulationResults(record.NeuronId, candidates), chosen);
    }

    /// <summary>Scores an explained (<see cref="NeuronStatus.Pending"/>) result on the valid split.</summary>
    public async Task<NeuronExplanationResult> ScoreAsync(NeuronRecord record, NeuronExplanationResult explained, CancellationToken cancellationToken)
    {
        if (explained.Status != NeuronStatus.Pending || explained.Results is null || explained.ChosenIndex is not int chosen)
            throw new ArgumentException($"neuron {explained.Neuron} is {explained.Status}, not explained and waiting to be scored", nameof(explained));
        record = Excerpts(record);
        var valid = record.ValidRecords();
        var calibrationTruth = record.CalibrationRecords().Select(r => r.Activations).ToList();
        var notes = explained.Reason is null ? new List<string>() : [explained.Reason];
        var scoredList = new List<ScoredExplanation>();
        int? newChosen = null;
        var candidates = explained.Results.ScoredExplanations;
        for (int i = 0; i < candidates.Count; i++)
        {
            var outcome = await SimulateAsync(record.NeuronId, candidates[i].Explanation, valid, cancellationToken);
            if (!outcome.Succeeded)
            {
                if (i == chosen)
                    return Result(record.NeuronId, NeuronStatus.Failed, $"the chosen explanation could not be simulated on the valid split: {outcome.Failure}", null, null);
                notes.Add($"candidate {i + 1} could not be simulated on the valid split: {outcome.Failure}");
                continue;
            }
            var calibration = LinearCalibration.Fit(calibrationTruth, [.. candidates[i].ScoredSimulation.ScoredSequenceSimulations.Select(s => s.Simulation)],
                out string? rejection);
            // Uncalibrated values stay on the 0..10 scale, so the scorer leaves R^2 and absolute deviation undefined.
            if (rejection is not null)
                notes.Add($"candidate {i + 1}: R^2 and absolute deviation undefined, the calibration to activation units was rejected: {rejection}");
            var simulations = calibration is null ? outcome.Simulations! : [.. outcome.Simulations!.Select(calibration.Apply)];
            if (i == chosen) newChosen = scoredList.Count;
            scoredList.Add(new ScoredExplanation(candidates[i].Explanation, SimulationScorer.Score(valid, simulations, options.BootstrapSeed,
                strata: TopRandomStrata(record, "valid"))));
        }
        var scored = Result(record.NeuronId, NeuronStatus.Done, Join(notes), new NeuronSimulationResults(record.NeuronId, scoredList), newChosen);
        return await AddScoresAsync(record, scored, cancellationToken);
    }

    /// <summary>The methods this flow's scorers give, in order.</summary>
    public IReadOnlyList<string> ScoreMethods => [.. Scorers.SelectMany(s => s.Methods)];

    /// <summary>Whether a scored result lacks a score of <see cref="ScoreMethods"/>, or has a failed one (scored again).</summary>
    public bool LacksScores(NeuronExplanationResult result) =>
        result is { Status: NeuronStatus.Done, ChosenIndex: not null } && ScoreMethods.Any(m => result.Scores.FirstOrDefault(s => s.Method == m) is null or { Failed: true });

    /// <summary>
    /// A scored (<see cref="NeuronStatus.Done"/>) result with every scorer's score of its chosen explanation: scorers
    /// whose scores are missing or failed run on the stored valid simulation, the other scores are kept as they are.
    /// So a later run with more <c>--scorers</c> adds their scores without simulating again.
    /// </summary>
    public async Task<NeuronExplanationResult> AddScoresAsync(NeuronRecord record, NeuronExplanationResult scored, CancellationToken cancellationToken)
    {
        if (scored is not { Status: NeuronStatus.Done, Results: { } results, ChosenIndex: int chosen })
            throw new ArgumentException($"neuron {scored.Neuron} is {scored.Status}, not scored", nameof(scored));
        var kept = results.ScoredExplanations[chosen];
        var scores = scored.Scores.ToDictionary(s => s.Method);
        foreach (var scorer in Scorers.Where(s => s.Methods.Any(m => scores.GetValueOrDefault(m) is null or { Failed: true })))
        {
            var given = await scorer.ScoreAsync(new ScorerInput(record, kept.Explanation, kept.ScoredSimulation, options.BootstrapSeed), cancellationToken);
            if (!given.Select(g => g.Method).SequenceEqual(scorer.Methods))
                throw new InvalidOperationException($"scorer of {string.Join(", ", scorer.Methods)} returned scores of {string.Join(", ", given.Select(g => g.Method))}");
            foreach (var score in given) scores[score.Method] = score;
        }
        var order = ScoreMethods;
        return scored with { Scores = [.. order.Select(m => scores[m]), .. scores.Values.Where(s => !order.Contains(s.Method))], UpdatedAt = DateTimeOffset.UtcNow };
    }

    IReadOnlyList<IScorer> Scorers => options.Scorers ?? [new SimulationCorrelationScorer()];

    /// <summary>Explain then score, for callers that do both at once.</summary>
    public async Task<NeuronExplanationResult> ExplainAndScoreAsync(ExplainerInput input, CancellationToken cancellationToken)
    {
        var explained = await ExplainAsync(input, cancellationToken);
        return explained.Status == NeuronStatus.Pending ? await ScoreAsync(input.Record, explained, cancellationToken) : explained;
    }

    /// <summary>The failed result of a neuron the store lists without its record (e.g. imported explanations without collated activations).</summary>
    public NeuronExplanationResult WithoutRecord(NeuronId neuron, string store) => Result(neuron, NeuronStatus.Failed,
        $"store {store} holds no activation record of neuron {neuron}, so there are no excerpts to explain or simulate; import its collated activations or collect", null, null);

    /// <summary>The excerpts the protocol uses; applying it twice changes nothing, so explain-then-score may apply it at each step.</summary>
    NeuronRecord Excerpts(NeuronRecord record) => (options.Protocol ?? ExplanationProtocol.Ours).Excerpts(record);

    NeuronExplanationResult? Unexplainable(NeuronRecord record)
    {
        if (!(record.MaxActivation > 0))
            return Result(record.NeuronId, NeuronStatus.NoActivations,
                "no top excerpt has a positive activation; there is nothing to explain", null, null);
        bool empty = record.TrainRecords().Count == 0 || record.CalibrationRecords().Count == 0 || record.ValidRecords().Count == 0;
        return !empty ? null : Result(record.NeuronId, NeuronStatus.Failed,
            $"the record's {record.MostPositiveActivationRecords.Count} top and {record.RandomSample.Count} random excerpts leave a train, calibration or valid split empty; collect at least 4 top and 3 random excerpts", null, null);
    }

    async Task<ScoredExplanation?> ScoreAttemptAsync(NeuronRecord record, ExplanationAttempt attempt, string what, List<string> notes,
        CancellationToken cancellationToken)
    {
        if (attempt.Text is null)
        {
            notes.Add($"{what} rejected: {attempt.Rejection}");
            return null;
        }
        var calibration = record.CalibrationRecords();
        var outcome = await SimulateAsync(record.NeuronId, attempt.Text, calibration, cancellationToken);
        if (!outcome.Succeeded)
        {
            notes.Add($"{what} could not be simulated: {outcome.Failure}");
            return null;
        }
        return new ScoredExplanation(attempt.Text, SimulationScorer.Score(calibration, outcome.Simulations!, options.BootstrapSeed,
            strata: TopRandomStrata(record, "calibration")));
    }

    async Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<ActivationRecord> records,
        CancellationToken cancellationToken)
    {
        var outcome = await simulator.SimulateAsync(neuron, explanation, [.. records.Select(r => r.Tokens)], cancellationToken);
        if (outcome.Succeeded && (outcome.Simulations!.Count != records.Count
            || outcome.Simulations.Where((s, i) => s.ExpectedActivations.Count != records[i].Tokens.Count).Any()))
            throw new InvalidOperationException($"simulator {simulator.Name} returned simulations that do not match the excerpts asked for");
        return outcome;
    }

    /// <summary>
    /// Two disjoint halves of <see cref="NeuronRecord.CalibrationRecords"/>, as flags by position: the counterexample half
    /// holds its 1st, 3rd, 5th, ... top excerpts and its 1st, 3rd, 5th, ... random ones, the judging half the others, so
    /// both keep the split's top/random balance. An excerpt drawn both as a top and as a random one goes to the half of its
    /// first place, so no excerpt is in both.
    /// </summary>
    public static (bool[] Counterexamples, bool[] Judging) CalibrationHalves(NeuronRecord record)
    {
        var calibration = record.CalibrationRecords();
        var strata = TopRandomStrata(record, "calibration");
        int tops = strata.Count(s => s == 0);
        var halfOf = new Dictionary<string, bool>(StringComparer.Ordinal);
        var shown = new bool[calibration.Count];
        for (int i = 0; i < shown.Length; i++)
        {
            string key = string.Join('\u0000', calibration[i].Tokens);
            if (!halfOf.TryGetValue(key, out shown[i])) halfOf[key] = shown[i] = (i < tops ? i : i - tops) % 2 == 0;
        }
        return (shown, [.. shown.Select(c => !c)]);
    }

    /// <summary>
    /// Stratum of each excerpt of a 1:1 split as <see cref="NeuronRecord"/> lays it out (its n top excerpts, then n random
    /// ones): 0 for top, 1 for random. The bootstrap resamples the two separately; <see cref="TopAndRandomScores"/> scores each alone.
    /// </summary>
    public static int[] TopRandomStrata(NeuronRecord record, string split)
    {
        int n = Math.Min(record.TopRecords(split).Count, record.RandomRecords(split).Count);
        return [.. Enumerable.Repeat(0, n), .. Enumerable.Repeat(1, n)];
    }

    /// <summary>Top-only and random-only correlations of a scored valid split, beside its pooled score (the paper's top-and-random design).</summary>
    public static (ScoreValue Top, ScoreValue Random) TopAndRandomScores(NeuronRecord record, ScoredSimulation valid)
    {
        var scores = SimulationScorer.ByStratum(valid, TopRandomStrata(record, "valid"));
        return (scores[0], scores[1]);
    }

    /// <summary>The calibration scores pooled over the judging half only.</summary>
    ScoredSimulation Judged(ScoredSimulation calibration, bool[] judging) =>
        SimulationScorer.Aggregate([.. calibration.ScoredSequenceSimulations.Where((_, i) => judging[i])], options.BootstrapSeed, resamples: 1);

    /// <summary>
    /// The excerpts of the counterexample half with the largest mean absolute error between simulated and true 0..10 values.
    /// </summary>
    List<Counterexample> Worst(NeuronRecord record, ScoredSimulation calibration, bool[] shown)
    {
        double max = record.MaxActivation;
        return [.. calibration.ScoredSequenceSimulations.Where((_, i) => shown[i])
            .Select(s => (s, Error: s.TrueActivations.Select((a, i) =>
                Math.Abs(PromptFormat.MaxNormalizedActivation * Math.Max(0, a) / max - s.Simulation.ExpectedActivations[i])).DefaultIfEmpty().Average()))
            .OrderByDescending(x => x.Error)
            .Take(options.Counterexamples)
            .Select(x => new Counterexample(new ActivationRecord(x.s.Simulation.Tokens, x.s.TrueActivations), x.s.Simulation))];
    }

    static int Best(List<ScoredExplanation> candidates)
    {
        int best = 0;
        for (int i = 1; i < candidates.Count; i++)
            if (ChoiceRule.IsBetter(candidates[i].ScoredSimulation, candidates[best].ScoredSimulation)) best = i;
        return best;
    }

    static string Describe(ScoredSimulation s) => s.EvCorrelationScore?.ToString("0.###") ?? $"undefined ({s.UndefinedReason})";

    static string? Join(List<string> notes) => notes.Count == 0 ? null : string.Join("; ", notes);

    NeuronExplanationResult Result(NeuronId neuron, NeuronStatus status, string? reason, NeuronSimulationResults? results, int? chosen) =>
        new(neuron, explainer.Name, simulator.Name, status, reason, results, chosen, DateTimeOffset.UtcNow)
        {
            Control = options.Control,
            ChosenBy = chosen is null ? null : ChoiceRule.CalibrationCorrelation,
        };
}
