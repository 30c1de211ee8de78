using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// What a judge is asked about each excerpt: whether the neuron fires on it (detection), or whether its highlighted
/// tokens are the ones the explanation describes (fuzzing).
/// </summary>
public enum JudgeTask { Detection, Fuzzing }

/// <summary>One excerpt shown to a judge, the positions highlighted in it (fuzzing only) and the right answer.</summary>
public sealed record JudgedExcerpt(IReadOnlyList<string> Tokens, IReadOnlyList<int> Highlighted, bool Positive);

/// <summary>A judge's answer on one excerpt, with its graded belief in "yes" when it has one (higher is surer; an LLM's probability from logprobs).</summary>
public sealed record JudgeAnswer(bool Yes, double? Belief);

/// <summary>An answer per excerpt, in order, or why there are none (never partly filled).</summary>
public sealed record JudgeOutcome(IReadOnlyList<JudgeAnswer>? Answers, string? Failure)
{
    public static JudgeOutcome Of(IReadOnlyList<JudgeAnswer> answers) => new(answers, null);
    public static JudgeOutcome Failed(string reason) => new(null, reason);
}

/// <summary>Answers detection and fuzzing questions from an explanation alone: the offline baseline, or an LLM.</summary>
public interface IExcerptJudge
{
    Task<JudgeOutcome> JudgeAsync(NeuronId neuron, string explanation, JudgeTask task, IReadOnlyList<JudgedExcerpt> excerpts, CancellationToken cancellationToken);
}

/// <summary>
/// The excerpts a neuron's explanation is judged on. Activating ones are the valid split's top excerpts and the quantile
/// samples from the upper half of the bins (never the train excerpts the explainer saw); non-activating ones the valid
/// split's random excerpts. The order is shuffled with a seed per neuron, so a judge cannot go by position.
/// </summary>
public static class JudgedExcerpts
{
    /// <summary>Share of an excerpt's largest activation a token needs to count as one the neuron fires on (fuzzing's true highlight).</summary>
    public const double HighlightShare = 0.5;

    public static IReadOnlyList<ActivationRecord> Activating(NeuronRecord record)
    {
        var bins = record.RandomSampleByQuantile ?? [];
        var upper = bins.Skip((bins.Count + 1) / 2).SelectMany(b => b);
        return [.. record.TopRecords("valid").Concat(upper).Where(r => r.MaxActivation > 0)];
    }

    /// <summary>Detection: activating excerpts (answer yes) and the valid random ones (answer no).</summary>
    public static IReadOnlyList<JudgedExcerpt> Detection(NeuronRecord record, int seed) => Shuffled(record, seed,
        [.. Activating(record).Select(r => new JudgedExcerpt(r.Tokens, [], true)),
         .. record.RandomRecords("valid").Select(r => new JudgedExcerpt(r.Tokens, [], false))]);

    /// <summary>
    /// Fuzzing: every activating excerpt twice, once with the tokens it truly fires on highlighted (at least
    /// <see cref="HighlightShare"/> of its largest activation; answer yes) and once with as many other tokens drawn at
    /// random (answer no). An excerpt without enough other tokens to draw from is left out.
    /// </summary>
    public static IReadOnlyList<JudgedExcerpt> Fuzzing(NeuronRecord record, int seed)
    {
        var random = new Random(Seed(record, seed) ^ 0x5f3759df);
        var excerpts = new List<JudgedExcerpt>();
        foreach (var r in Activating(record))
        {
            double threshold = HighlightShare * r.MaxActivation;
            int[] truly = [.. Enumerable.Range(0, r.Tokens.Count).Where(i => r.Activations[i] >= threshold)];
            int[] others = [.. Enumerable.Range(0, r.Tokens.Count).Where(i => r.Activations[i] < threshold)];
            if (others.Length < truly.Length) continue;
            random.Shuffle(others);
            excerpts.Add(new JudgedExcerpt(r.Tokens, truly, true));
            excerpts.Add(new JudgedExcerpt(r.Tokens, [.. others.Take(truly.Length).Order()], false));
        }
        return Shuffled(record, seed, excerpts);
    }

    static List<JudgedExcerpt> Shuffled(NeuronRecord record, int seed, List<JudgedExcerpt> excerpts)
    {
        var array = excerpts.ToArray();
        new Random(Seed(record, seed)).Shuffle(array);
        return [.. array];
    }

    /// <summary>A seed of the run's seed and the neuron, the same in every process (string.GetHashCode is not).</summary>
    static int Seed(NeuronRecord record, int seed) =>
        unchecked(seed * 1_000_003 + record.NeuronId.LayerIndex * 65_537 + record.NeuronId.NeuronIndex);
}

/// <summary>
/// Detection or fuzzing: the judge answers every excerpt of <see cref="JudgedExcerpts"/>, scored by balanced accuracy
/// (method <c>detection</c> / <c>fuzzing</c>) and by AUC of the judge's probability of yes (<c>-auc</c>; undefined when
/// the judge gave none). A judge that fails (an LLM reply unreadable after its retries) fails both, with the reason.
/// </summary>
public sealed class JudgedScorer(JudgeTask task, IExcerptJudge judge) : IScorer
{
    public const string DetectionName = "detection";
    public const string FuzzingName = "fuzzing";
    public const string AucSuffix = "-auc";

    string Name => task == JudgeTask.Detection ? DetectionName : FuzzingName;

    public IReadOnlyList<string> Methods => [Name, Name + AucSuffix];

    public async Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken)
    {
        var excerpts = task == JudgeTask.Detection ? JudgedExcerpts.Detection(input.Record, input.Seed) : JudgedExcerpts.Fuzzing(input.Record, input.Seed);
        if (excerpts.Count == 0)
            return [.. Methods.Select(m => new MethodScore(m, null, "the record has no excerpts to judge"))];
        var outcome = await judge.JudgeAsync(input.Record.NeuronId, input.Explanation, task, excerpts, cancellationToken);
        if (outcome.Answers is not { } answers) return [.. Methods.Select(m => MethodScore.Failure(m, outcome.Failure!))];
        if (answers.Count != excerpts.Count)
            throw new InvalidOperationException($"the judge answered {answers.Count} of {excerpts.Count} excerpts");

        bool[] labels = [.. excerpts.Select(e => e.Positive)], yes = [.. answers.Select(a => a.Yes)];
        int positives = labels.Count(l => l);
        string details = JsonSerializer.Serialize(new Dictionary<string, int>
        {
            ["positives"] = positives,
            ["negatives"] = labels.Length - positives,
            ["true_positives"] = labels.Where((l, i) => l && yes[i]).Count(),
            ["true_negatives"] = labels.Where((l, i) => !l && !yes[i]).Count(),
        });
        var auc = answers.All(a => a.Belief is not null)
            ? ClassificationScores.Auc(labels, [.. answers.Select(a => a.Belief!.Value)])
            : ScoreValue.Undefined("the judge gave no probability of yes (the server returned no logprobs)");
        return [MethodScore.Of(Name, ClassificationScores.BalancedAccuracy(labels, yes), details), MethodScore.Of(Name + AucSuffix, auc)];
    }
}

/// <summary>
/// The offline judge for baseline explanations: the explanation's token (or, for a head, token pair) weights predict a
/// 0..10 value per token (<see cref="IBaselinePrediction.Predict"/>). Detection believes in an excerpt by its largest predicted value,
/// fuzzing by the mean predicted value over the highlighted tokens; either says yes from half the explanation's
/// strongest weight up.
/// </summary>
public sealed class BaselineJudge : IExcerptJudge
{
    public Task<JudgeOutcome> JudgeAsync(NeuronId neuron, string explanation, JudgeTask task, IReadOnlyList<JudgedExcerpt> excerpts,
        CancellationToken cancellationToken)
    {
        if (BaselineExplanation.ParseAny(explanation) is not { } parsed)
            return Task.FromResult(JudgeOutcome.Failed("the offline judge reads only baseline explanations; name an LLM simulator to judge others"));
        double threshold = parsed.StrongestWeight / 2;
        var answers = excerpts.Select(e =>
        {
            var predicted = parsed.Predict(e.Tokens);
            double belief = task == JudgeTask.Detection ? predicted.DefaultIfEmpty().Max() : e.Highlighted.Count == 0 ? 0 : e.Highlighted.Average(i => predicted[i]);
            return new JudgeAnswer(belief >= threshold, belief);
        }).ToList();
        return Task.FromResult(JudgeOutcome.Of(answers));
    }
}
