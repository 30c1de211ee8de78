using FsCheck;
using FsCheck.Fluent;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Scoring;

public class CorrelationPropertyTests
{
    /// <summary>Paired sequences of 1..40 values on a 0.1 grid, so spreads are never lost to rounding.</summary>
    static readonly Gen<(double[] Truth, double[] Predicted)> Pairs =
        from n in Gen.Choose(1, 40)
        from truth in Gen.ArrayOf(Gen.Choose(-1000, 1000).Select(v => v / 10.0), n)
        from predicted in Gen.ArrayOf(Gen.Choose(-1000, 1000).Select(v => v / 10.0), n)
        select (truth, predicted);

    static readonly Gen<(double Scale, double Shift)> PositiveAffine =
        from scale in Gen.Choose(1, 1000)
        from shift in Gen.Choose(-1000, 1000)
        select (scale / 10.0, shift / 10.0);

    static bool Close(ScoreValue a, ScoreValue b, double tolerance) =>
        a.IsDefined == b.IsDefined && (!a.IsDefined || Math.Abs(a.Value!.Value - b.Value!.Value) <= tolerance);

    [Fact]
    public void Unchanged_by_positive_affine_maps_of_the_prediction() =>
        Prop.ForAll(Gen.Zip(Pairs, PositiveAffine).ToArbitrary(), input =>
        {
            var ((truth, predicted), (scale, shift)) = input;
            double[] mapped = [.. predicted.Select(p => scale * p + shift)];
            return Close(ActivationScores.Correlation(truth, predicted), ActivationScores.Correlation(truth, mapped), 1e-9);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Negating_the_prediction_negates_the_correlation() =>
        Prop.ForAll(Pairs.ToArbitrary(), pair =>
        {
            double[] negated = [.. pair.Predicted.Select(p => -p)];
            var r = ActivationScores.Correlation(pair.Truth, pair.Predicted);
            var s = ActivationScores.Correlation(pair.Truth, negated);
            return r.IsDefined == s.IsDefined && (!r.IsDefined || Math.Abs(r.Value!.Value + s.Value!.Value) <= 1e-9);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Symmetric() =>
        Prop.ForAll(Pairs.ToArbitrary(), pair =>
            Close(ActivationScores.Correlation(pair.Truth, pair.Predicted), ActivationScores.Correlation(pair.Predicted, pair.Truth), 1e-12))
        .QuickCheckThrowOnFailure();

    [Fact]
    public void Within_minus_one_and_one_or_undefined_with_a_reason() =>
        Prop.ForAll(Pairs.ToArbitrary(), pair =>
        {
            var r = ActivationScores.Correlation(pair.Truth, pair.Predicted);
            return r.IsDefined ? r.Value is >= -1 and <= 1 && r.UndefinedReason is null : !string.IsNullOrEmpty(r.UndefinedReason);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Pooled_score_does_not_depend_on_how_tokens_are_cut_into_excerpts() =>
        Prop.ForAll(Gen.Zip(Pairs, Gen.Choose(1, 40)).ToArbitrary(), input =>
        {
            var ((truth, predicted), cut) = input;
            cut = Math.Min(cut, truth.Length);
            var whole = ScoringFixtures.Score([(truth, predicted)]);
            var split = ScoringFixtures.Score([(truth[..cut], predicted[..cut]), (truth[cut..], predicted[cut..])]);
            return whole.EvCorrelationScore is null == split.EvCorrelationScore is null
                && Math.Abs((whole.EvCorrelationScore ?? 0) - (split.EvCorrelationScore ?? 0)) <= 1e-9
                && whole.UndefinedReason == split.UndefinedReason;
        }).QuickCheckThrowOnFailure();
}
