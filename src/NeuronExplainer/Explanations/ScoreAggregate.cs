namespace NeuronExplainer.Explanations;

/// <summary>
/// Mean and share at or above <see cref="GoodScore"/> of scored neurons, both over the defined scores and with the
/// undefined ones counted as 0. Both are needed: a simulator that predicts a constant gets undefined scores, and
/// over defined scores alone its few lucky neurons would make it look better than one that tries everywhere.
/// </summary>
public sealed record ScoreAggregate(int Defined, int Undefined, double? Mean, double? MeanUndefinedAsZero,
    double? ShareAtLeastGood, double? ShareAtLeastGoodUndefinedAsZero)
{
    public const double GoodScore = 0.8;

    /// <summary>Aggregates the scores of scored (done) neurons, null where a neuron's score is undefined.</summary>
    public static ScoreAggregate Of(IEnumerable<double?> scores)
    {
        int defined = 0, undefined = 0, good = 0;
        double sum = 0;
        foreach (var score in scores)
        {
            if (score is not double s) { undefined++; continue; }
            defined++;
            sum += s;
            if (s >= GoodScore) good++;
        }
        return FromCounts(defined, undefined, sum, good);
    }

    /// <summary>Aggregates from counts kept elsewhere (e.g. a store's running totals): the sum and count of the defined scores.</summary>
    public static ScoreAggregate FromCounts(int defined, int undefined, double sum, int good)
    {
        int all = defined + undefined;
        return new ScoreAggregate(defined, undefined,
            defined == 0 ? null : sum / defined, all == 0 ? null : sum / all,
            defined == 0 ? null : (double)good / defined, all == 0 ? null : (double)good / all);
    }
}
