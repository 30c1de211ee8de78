using System.Collections;

namespace NeuronExplainer.Scoring;

/// <summary>
/// The distributions of a simulation certain of each token's value: per token its one value, with probability 1. Views over
/// the expected values, so a simulation of thousands of tokens is not thousands of one-element lists (the baseline
/// simulator makes several such simulations per neuron).
/// </summary>
public sealed class PointMassValues(IReadOnlyList<double> values) : IReadOnlyList<IReadOnlyList<double>>
{
    /// <summary>The expected values the distributions are of.</summary>
    public IReadOnlyList<double> Values => values;

    public int Count => values.Count;

    public IReadOnlyList<double> this[int index] => [values[index]];

    public IEnumerator<IReadOnlyList<double>> GetEnumerator()
    {
        for (int i = 0; i < values.Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Probability 1 for each of <paramref name="count"/> tokens, one shared list.</summary>
public sealed class CertainProbabilities(int count) : IReadOnlyList<IReadOnlyList<double>>
{
    static readonly IReadOnlyList<double> One = Array.AsReadOnly([1.0]);

    public int Count => count;

    public IReadOnlyList<double> this[int index] =>
        (uint)index < (uint)count ? One : throw new ArgumentOutOfRangeException(nameof(index), index, $"{count} tokens");

    public IEnumerator<IReadOnlyList<double>> GetEnumerator() => Enumerable.Repeat(One, count).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
