using System.Numerics.Tensors;

namespace NeuronExplainer.Scoring;

/// <summary>
/// The paper's scores of predicted against true activations, over one flat sequence of tokens:
/// Pearson correlation (the "ev_correlation_score"), R^2 relative to predicting zero, and absolute
/// deviation explained. R^2 and absolute deviation follow OpenAI's definitions, which compare with
/// the all-zero prediction (uncentred), not with the mean.
/// </summary>
public static class ActivationScores
{
    public static ScoreValue Correlation(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted)
    {
        if (Problem(truth, predicted) is { } problem) return ScoreValue.Undefined(problem);
        if (ConstantProblem(truth, "true activations") is { } t) return ScoreValue.Undefined(t);
        if (ConstantProblem(predicted, "predicted activations") is { } p) return ScoreValue.Undefined(p);

        // Centre first: the textbook one-pass formula loses precision when the means are large.
        int n = truth.Length;
        var dx = new double[n];
        var dy = new double[n];
        TensorPrimitives.Subtract(truth, TensorPrimitives.Sum(truth) / n, dx);
        TensorPrimitives.Subtract(predicted, TensorPrimitives.Sum(predicted) / n, dy);
        double r = TensorPrimitives.Dot<double>(dx, dy)
            / Math.Sqrt(TensorPrimitives.SumOfSquares<double>(dx) * TensorPrimitives.SumOfSquares<double>(dy));
        return Finite(Math.Clamp(r, -1, 1));
    }

    /// <summary>1 - mean((truth - predicted)^2) / mean(truth^2).</summary>
    public static ScoreValue RSquared(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted) =>
        ExplainedFraction(truth, predicted, TensorPrimitives.SumOfSquares<double>);

    /// <summary>1 - mean(|truth - predicted|) / mean(|truth|).</summary>
    public static ScoreValue AbsoluteDevExplained(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted) =>
        ExplainedFraction(truth, predicted, TensorPrimitives.SumOfMagnitudes<double>);

    delegate double Size(ReadOnlySpan<double> values);

    /// <summary>1 - size(truth - predicted) / size(truth): how much of the truth's size the prediction accounts for.</summary>
    static ScoreValue ExplainedFraction(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted, Size size)
    {
        if (Problem(truth, predicted) is { } problem) return ScoreValue.Undefined(problem);
        if (TensorPrimitives.MaxMagnitude(truth) == 0) return ScoreValue.Undefined("true activations are all zero");
        var diff = new double[truth.Length];
        TensorPrimitives.Subtract(truth, predicted, diff);
        return Finite(1 - size(diff) / size(truth));
    }

    /// <summary>Sums of squares can overflow (values near 1e154) or underflow (spreads near 1e-160) in double precision.</summary>
    static ScoreValue Finite(double score) => double.IsFinite(score)
        ? ScoreValue.Of(score)
        : ScoreValue.Undefined("values are too large or too close together to score in double precision");

    static string? Problem(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted)
    {
        if (truth.Length != predicted.Length)
            return $"{truth.Length} true activations but {predicted.Length} predicted ones";
        if (truth.Length == 0) return "no tokens to score";
        if (NonFinite(truth) is int i) return $"true activation {i} is {truth[i]}";
        if (NonFinite(predicted) is int j) return $"predicted activation {j} is {predicted[j]}";
        return null;
    }

    static int? NonFinite(ReadOnlySpan<double> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i])) return i;
        return null;
    }

    static string? ConstantProblem(ReadOnlySpan<double> values, string what)
    {
        // Exact comparison: any real spread, however small, still gives a defined correlation.
        double min = TensorPrimitives.Min(values);
        return min == TensorPrimitives.Max(values)
            ? values.Length == 1 ? $"only one token; {what} have no variance" : $"{what} are constant ({min:G6})"
            : null;
    }
}
