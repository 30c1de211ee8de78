namespace NeuronExplainer;

/// <summary>
/// A setting the library cannot use. <see cref="Setting"/> names it as the library does (<c>Type.Property</c>),
/// <see cref="Problem"/> says what is wrong with the value and what was expected; a front end shows its own name
/// for the setting (a CLI flag) in front of the problem.
/// </summary>
public sealed class SettingException(string setting, string problem) : NeuronExplainerException($"{setting} {problem}")
{
    public string Setting { get; } = setting;
    public string Problem { get; } = problem;

    /// <summary>The setting <paramref name="property"/> of <typeparamref name="T"/>.</summary>
    public static SettingException Of<T>(string property, string problem) => new($"{typeof(T).Name}.{property}", problem);
}
