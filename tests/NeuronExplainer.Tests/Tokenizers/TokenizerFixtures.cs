namespace NeuronExplainer.Tests.Tokenizers;

/// <summary>The tokenizer tests' committed fixtures (expected ids, reference scripts, hand-made tokenizer.json files).</summary>
internal static class TokenizerFixtures
{
    public static string Path(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "Tokenizers", name);
}
