namespace NeuronExplainer.Tests;

/// <summary>
/// The trait of slow tests (a browser, end to end over real models, ../shared data): <c>./test.sh --fast</c> skips them
/// with <c>--filter "Category!=Slow"</c>; the full suite and CI run them. Tag a test or class with
/// <c>[Trait(TestCategory.Name, TestCategory.Slow)]</c>.
/// </summary>
public static class TestCategory
{
    public const string Name = "Category";
    public const string Slow = "Slow";
}
