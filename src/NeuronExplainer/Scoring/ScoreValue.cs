namespace NeuronExplainer.Scoring;

/// <summary>
/// A score that is either a finite number or undefined with a reason (e.g. constant truth), so an
/// undefined correlation is never stored as 0 or NaN.
/// </summary>
public readonly record struct ScoreValue
{
    public double? Value { get; }
    public string? UndefinedReason { get; }

    ScoreValue(double? value, string? undefinedReason) => (Value, UndefinedReason) = (value, undefinedReason);

    public bool IsDefined => Value.HasValue;

    public static ScoreValue Of(double value) => double.IsFinite(value)
        ? new(value, null)
        : throw new ArgumentOutOfRangeException(nameof(value), value, "a defined score must be finite");

    public static ScoreValue Undefined(string reason) => new(null, reason);

    public override string ToString() => Value?.ToString("0.####") ?? $"undefined ({UndefinedReason})";
}
