namespace NeuronExplainer.Scoring;

/// <summary>
/// Scores of yes/no judgements against known labels (detection and fuzzing): balanced accuracy of the answers and the
/// area under the ROC curve of a graded belief in "yes". Both are 0.5 for a judge that knows nothing, whatever the
/// share of positives, which is why they are used rather than plain accuracy.
/// </summary>
public static class ClassificationScores
{
    /// <summary>Mean of the true-positive and true-negative rates; undefined without both a positive and a negative label.</summary>
    public static ScoreValue BalancedAccuracy(ReadOnlySpan<bool> labels, ReadOnlySpan<bool> answers)
    {
        if (labels.Length != answers.Length) throw new ArgumentException($"{labels.Length} labels but {answers.Length} answers");
        int positives = 0, negatives = 0, truePositives = 0, trueNegatives = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i]) { positives++; if (answers[i]) truePositives++; }
            else { negatives++; if (!answers[i]) trueNegatives++; }
        }
        if (positives == 0 || negatives == 0)
            return ScoreValue.Undefined($"needs both kinds of excerpt; got {positives} positive and {negatives} negative");
        return ScoreValue.Of(((double)truePositives / positives + (double)trueNegatives / negatives) / 2);
    }

    /// <summary>
    /// Area under the ROC curve of <paramref name="beliefs"/> (higher = more likely positive): the chance that a random
    /// positive gets a higher belief than a random negative, ties counting half (the Mann-Whitney statistic).
    /// </summary>
    public static ScoreValue Auc(ReadOnlySpan<bool> labels, ReadOnlySpan<double> beliefs)
    {
        if (labels.Length != beliefs.Length) throw new ArgumentException($"{labels.Length} labels but {beliefs.Length} beliefs");
        var order = new int[labels.Length];
        for (int i = 0; i < order.Length; i++)
        {
            if (!double.IsFinite(beliefs[i])) throw new ArgumentException($"belief {i} is {beliefs[i]}; beliefs must be finite");
            order[i] = i;
        }
        var sortedBeliefs = beliefs.ToArray();
        Array.Sort(sortedBeliefs, order);
        // Sum of the positives' mid-ranks over tied groups, then the Mann-Whitney U of the positives.
        double positiveRanks = 0;
        int positives = 0;
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && sortedBeliefs[end + 1] == sortedBeliefs[start]) end++;
            double midRank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++)
                if (labels[order[k]]) { positiveRanks += midRank; positives++; }
            start = end + 1;
        }
        int negatives = labels.Length - positives;
        if (positives == 0 || negatives == 0)
            return ScoreValue.Undefined($"needs both kinds of excerpt; got {positives} positive and {negatives} negative");
        return ScoreValue.Of((positiveRanks - positives * (positives + 1) / 2.0) / ((double)positives * negatives));
    }
}
