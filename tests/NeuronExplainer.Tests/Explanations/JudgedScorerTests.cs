using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>Detection and fuzzing: the excerpts judged, the offline judge, and the scores stored by method and resumed.</summary>
public sealed class JudgedScorerTests
{
    static readonly CancellationToken None = CancellationToken.None;

    /// <summary>
    /// The cat neuron with a random sample of excerpts without " cat" (so "does not fire" is right for them), and 4 quantile
    /// bins of 5 excerpts each: the lower two without " cat", the upper two with it.
    /// </summary>
    static NeuronRecord CatWithQuantiles()
    {
        var random = new Random(9);
        ActivationRecord Excerpt(bool cat)
        {
            string[] words = [.. SyntheticNeurons.Words.Where(w => w is not " cat" and not " named")];
            string[] tokens = [.. Enumerable.Range(0, 16).Select(_ => words[random.Next(words.Length)])];
            if (cat) tokens[random.Next(16)] = " cat";
            return new ActivationRecord(tokens, [.. tokens.Select((_, i) => SyntheticNeurons.CatRule(tokens, i))]);
        }
        List<ActivationRecord> Bin(bool cat) => [.. Enumerable.Range(0, 5).Select(_ => Excerpt(cat))];
        return SyntheticNeurons.Cat() with
        {
            RandomSample = [.. Enumerable.Range(0, 30).Select(_ => Excerpt(false))],
            RandomSampleByQuantile = [Bin(false), Bin(false), Bin(true), Bin(true)],
        };
    }

    static ScorerInput Input(NeuronRecord record, string explanation) =>
        new(record, explanation, SimulationScorer.Score([], []), Seed: 0);

    [Fact]
    public void Detection_judges_valid_top_and_upper_quantile_excerpts_against_valid_random_ones_never_train_ones()
    {
        var record = CatWithQuantiles();
        var excerpts = JudgedExcerpts.Detection(record, seed: 0);
        var positives = excerpts.Where(e => e.Positive).Select(e => e.Tokens).ToList();
        var expected = record.TopRecords("valid").Concat(record.RandomSampleByQuantile![2]).Concat(record.RandomSampleByQuantile[3]).Select(r => r.Tokens).ToList();
        Assert.Equal(expected.Count, positives.Count);
        Assert.All(expected, t => Assert.Contains(t, positives));
        Assert.Equal(record.RandomRecords("valid").Count, excerpts.Count(e => !e.Positive));
        Assert.DoesNotContain(excerpts, e => record.TrainRecords().Any(t => t.Tokens.SequenceEqual(e.Tokens)) && e.Positive
            && !expected.Any(x => x.SequenceEqual(e.Tokens)));
        // Shuffled, the same way every time, another way for another seed.
        Assert.NotEqual(expected, positives);
        Assert.Equal(excerpts, JudgedExcerpts.Detection(record, seed: 0));
        Assert.NotEqual(excerpts.Select(e => e.Positive), JudgedExcerpts.Detection(record, seed: 1).Select(e => e.Positive));
    }

    [Fact]
    public void Fuzzing_marks_each_activating_excerpt_once_on_its_firing_tokens_and_once_on_as_many_others()
    {
        var record = CatWithQuantiles();
        var excerpts = JudgedExcerpts.Fuzzing(record, seed: 0);
        var activating = JudgedExcerpts.Activating(record);
        Assert.Equal(2 * activating.Count, excerpts.Count);
        foreach (var source in activating)
        {
            var pair = excerpts.Where(e => e.Tokens.SequenceEqual(source.Tokens)).ToList();
            var right = Assert.Single(pair, e => e.Positive);
            var wrong = Assert.Single(pair, e => !e.Positive);
            Assert.Equal(Enumerable.Range(0, source.Tokens.Count).Where(i => source.Activations[i] >= 0.5 * source.MaxActivation), right.Highlighted);
            Assert.Equal(right.Highlighted.Count, wrong.Highlighted.Count);
            Assert.Empty(right.Highlighted.Intersect(wrong.Highlighted));
        }
    }

    [Fact]
    public async Task The_offline_judge_detects_a_baseline_explanation_of_the_neuron_and_sits_at_chance_with_an_unrelated_one()
    {
        var record = CatWithQuantiles();
        var detection = new JudgedScorer(JudgeTask.Detection, new BaselineJudge());
        var fuzzing = new JudgedScorer(JudgeTask.Fuzzing, new BaselineJudge());
        Assert.Equal(["detection", "detection-auc"], detection.Methods);
        Assert.Equal(["fuzzing", "fuzzing-auc"], fuzzing.Methods);

        var own = await detection.ScoreAsync(Input(record, "tokens \"cat\" (9.0)"), None);
        Assert.True(own[0].Value > 0.9, $"balanced accuracy {own[0].Value}");
        Assert.True(own[1].Value > 0.9, $"AUC {own[1].Value}");
        Assert.Contains("\"positives\":", own[0].Details);
        var ownFuzz = await fuzzing.ScoreAsync(Input(record, "tokens \"cat\" (9.0)"), None);
        Assert.True(ownFuzz[0].Value > 0.9, $"fuzzing balanced accuracy {ownFuzz[0].Value}");

        // A token no excerpt holds: the judge never says yes, which is chance.
        var unrelated = await detection.ScoreAsync(Input(record, "tokens \"zebra\" (9.0)"), None);
        Assert.Equal(0.5, unrelated[0].Value);
        Assert.Equal(0.5, unrelated[1].Value);
    }

    [Fact]
    public async Task The_offline_judge_fails_on_prose_with_the_reason_never_a_number()
    {
        var scores = await new JudgedScorer(JudgeTask.Detection, new BaselineJudge()).ScoreAsync(Input(CatWithQuantiles(), "cats and kittens"), None);
        Assert.All(scores, s =>
        {
            Assert.True(s.Failed);
            Assert.Null(s.Value);
            Assert.Contains("reads only baseline explanations", s.UndefinedReason);
        });
    }

    [Fact]
    public async Task A_later_run_with_more_scorers_adds_their_scores_without_redoing_the_others_then_has_nothing_left()
    {
        string directory = Path.Combine(Path.GetTempPath(), "nx-judge-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = SqliteNeuronStore.Open(directory);
            var record = CatWithQuantiles();
            store.PutNeuronRecords([record]);
            ExplanationFlow Flow(params IScorer[] scorers) => new(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions(Scorers: scorers));

            var first = await new ExplanationRunner(store, store, Flow(new SimulationCorrelationScorer())).RunAsync([record.NeuronId], RunStep.ExplainAndScore);
            Assert.Equal(1, first.Stored);
            var scored = store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!;
            Assert.Equal(["simulation-correlation"], scored.Scores.Select(s => s.Method));

            var counting = new CountingScorer(new JudgedScorer(JudgeTask.Detection, new BaselineJudge()));
            var second = await new ExplanationRunner(store, store, Flow(new SimulationCorrelationScorer(), counting)).RunAsync([record.NeuronId], RunStep.Score);
            Assert.Equal(1, second.Stored);
            var added = store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!;
            Assert.Equal(["detection", "detection-auc", "simulation-correlation"], added.Scores.Select(s => s.Method));
            Assert.Equal(scored.Scores[0], added.Scores.Single(s => s.Method == "simulation-correlation"));
            Assert.Equal(scored.Results!.ScoredExplanations.Select(e => (e.Explanation, e.ScoredSimulation.EvCorrelationScore)),
                added.Results!.ScoredExplanations.Select(e => (e.Explanation, e.ScoredSimulation.EvCorrelationScore)));

            var third = await new ExplanationRunner(store, store, Flow(new SimulationCorrelationScorer(), counting)).RunAsync([record.NeuronId], RunStep.Score);
            Assert.Equal(1, third.AlreadyDone);
            Assert.Equal(1, counting.Calls);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(RunStep.ExplainAndScore, NeuronStatus.Done)]
    [InlineData(RunStep.Explain, NeuronStatus.Pending)]
    public async Task A_stored_result_whose_record_is_missing_is_kept_when_a_run_asks_for_more_scores(RunStep first, NeuronStatus stored)
    {
        using var temp = new TempDirectory();
        var record = CatWithQuantiles();
        ExplanationFlow Flow(params IScorer[] scorers) => new(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions(Scorers: scorers));
        NeuronExplanationResult result;
        using (var collected = SqliteNeuronStore.Open(temp.Sub("collected")))
        {
            collected.PutNeuronRecords([record]);
            await new ExplanationRunner(collected, collected, Flow(new SimulationCorrelationScorer())).RunAsync([record.NeuronId], first);
            result = collected.GetExplanationResult(record.NeuronId, "baseline", "baseline")!;
        }
        Assert.Equal(stored, result.Status);
        // The result alone, as an import of explanations without their collated activations leaves it.
        using var store = SqliteNeuronStore.Open(temp.Sub("results-only"));
        store.PutExplanationResult(result);

        var counts = await new ExplanationRunner(store, store, Flow(new SimulationCorrelationScorer(), new JudgedScorer(JudgeTask.Detection, new BaselineJudge())))
            .RunAsync([record.NeuronId], RunStep.Score);
        Assert.Equal((0, 1), (counts.Stored, counts.RecordMissing));
        var kept = store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!;
        Assert.Equal((stored, result.ChosenIndex), (kept.Status, kept.ChosenIndex));
        Assert.Equal(result.Scores, kept.Scores);
        Assert.Equal(result.Results!.ScoredExplanations.Select(e => e.Explanation), kept.Results!.ScoredExplanations.Select(e => e.Explanation));
    }

    [Fact]
    public async Task A_failed_score_is_scored_again_by_the_next_run()
    {
        string directory = Path.Combine(Path.GetTempPath(), "nx-judge-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = SqliteNeuronStore.Open(directory);
            var record = CatWithQuantiles();
            store.PutNeuronRecords([record]);
            var failing = new FailingOnceScorer();
            var flow = new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions(Scorers: [failing]));
            await new ExplanationRunner(store, store, flow).RunAsync([record.NeuronId], RunStep.ExplainAndScore);
            Assert.True(store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!.Scores.Single().Failed);

            var again = await new ExplanationRunner(store, store, flow).RunAsync([record.NeuronId], RunStep.Score);
            Assert.Equal(1, again.Stored);
            Assert.Equal(new MethodScore("flaky", 1, null), store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!.Scores.Single());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    sealed class CountingScorer(IScorer inner) : IScorer
    {
        public int Calls;
        public IReadOnlyList<string> Methods => inner.Methods;

        public Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return inner.ScoreAsync(input, cancellationToken);
        }
    }

    sealed class FailingOnceScorer : IScorer
    {
        int calls;
        public IReadOnlyList<string> Methods => ["flaky"];

        public Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<MethodScore>>([Interlocked.Increment(ref calls) == 1 ? MethodScore.Failure("flaky", "the server said no") : new MethodScore("flaky", 1, null)]);
    }
}
