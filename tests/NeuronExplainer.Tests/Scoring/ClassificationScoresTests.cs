using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Scoring;

public class ClassificationScoresTests
{
    [Fact]
    public void Balanced_accuracy_averages_the_two_rates_so_a_judge_that_always_says_yes_gets_one_half()
    {
        bool[] labels = [true, true, true, false];
        Assert.Equal(0.5, ClassificationScores.BalancedAccuracy(labels, [true, true, true, true]).Value);
        // 2 of 3 positives and 1 of 1 negatives right.
        Assert.Equal((2.0 / 3 + 1) / 2, ClassificationScores.BalancedAccuracy(labels, [true, false, true, false]).Value!.Value, 12);
        var undefined = ClassificationScores.BalancedAccuracy([true, true], [true, false]);
        Assert.Null(undefined.Value);
        Assert.Contains("2 positive and 0 negative", undefined.UndefinedReason);
    }

    [Fact]
    public void Auc_is_the_share_of_positive_negative_pairs_ordered_right_with_ties_counting_half()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = random.Next(2, 30);
            bool[] labels = [.. Enumerable.Range(0, n).Select(i => i == 0 || (i != 1 && random.Next(2) == 0))];
            // Few distinct values, so ties are common.
            double[] beliefs = [.. Enumerable.Range(0, n).Select(_ => random.Next(4) / 3.0)];
            double pairs = 0, right = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (labels[i] && !labels[j])
                    {
                        pairs++;
                        right += beliefs[i] > beliefs[j] ? 1 : beliefs[i] == beliefs[j] ? 0.5 : 0;
                    }
            Assert.Equal(right / pairs, ClassificationScores.Auc(labels, beliefs).Value!.Value, 12);
        }
        Assert.Equal(0.5, ClassificationScores.Auc([true, false, true, false], [1, 1, 1, 1]).Value);
        Assert.Null(ClassificationScores.Auc([false, false], [0.2, 0.3]).Value);
    }
}
