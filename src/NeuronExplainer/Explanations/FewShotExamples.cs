namespace NeuronExplainer.Explanations;

/// <summary>A made-up neuron shown to the LLM before the real one: excerpts with 0..10 values and the explanation we want.</summary>
public sealed record FewShotExample(string Explanation, IReadOnlyList<FewShotExcerpt> Excerpts);

/// <param name="RevealFrom">
/// Where the all-at-once simulator prompt starts showing values: lines before it read "unknown", as the slots the model
/// completes do, so the examples show a value following "unknown"-style lines rather than values everywhere.
/// </param>
public sealed record FewShotExcerpt(IReadOnlyList<string> Tokens, IReadOnlyList<int> Values, int RevealFrom);

/// <summary>
/// Our own few-shot examples, used by both the explainer and the simulator prompts so the two sides see the
/// same convention. They are deliberately of different kinds: a topic neuron and a position-in-context neuron.
/// </summary>
public static class FewShotExamples
{
    public static readonly IReadOnlyList<FewShotExample> All =
    [
        new("rain, storms and other wet weather",
        [
            new([" The", " clouds", " grew", " dark", " and", " it", " began", " to", " rain", "."],
                [0, 3, 0, 2, 0, 0, 0, 0, 10, 0], 3),
            new([" She", " opened", " her", " umbrella", " against", " the", " storm", " and", " ran", " home", "."],
                [0, 0, 0, 6, 0, 0, 9, 0, 0, 0, 0], 2),
            new([" Tom", " liked", " to", " jump", " in", " puddles", " after", " a", " shower", "."],
                [0, 0, 0, 0, 0, 7, 0, 0, 5, 0], 1),
        ]),
        new("the family name right after a title like Mr or Mrs",
        [
            new([" Then", " Mr", ".", " Brown", " opened", " the", " door", "."],
                [0, 0, 0, 9, 0, 0, 0, 0], 2),
            new([" \"", "Hello", ",", " Mrs", " Smith", "!\"", " said", " Anna", "."],
                [0, 0, 0, 0, 10, 0, 0, 1, 0], 4),
            new([" The", " teacher", ",", " Miss", " Green", ",", " smiled", "."],
                [0, 0, 0, 0, 8, 0, 0, 0], 3),
        ]),
    ];
}
