using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>What a registered component is built from: the LLM model it asks and the connection, when it asks one.</summary>
public sealed class ComponentContext(string? model, ILlmClient? llm)
{
    public string Model => model ?? throw new InvalidOperationException("a component that asks an LLM was built without a model");
    public ILlmClient Llm => llm ?? throw new InvalidOperationException("a component that asks an LLM was built without a connection");

    /// <summary>Whether the component is built to ask an LLM (a scorer follows the simulator: offline with the baseline one).</summary>
    public bool AsksLlm => model is not null;
}

/// <summary>One named way to explain, simulate or score. One that <see cref="UsesLlm"/> needs a model and a connection.</summary>
public sealed record Registration<T>(string Name, bool UsesLlm, Func<ComponentContext, T> Create);

/// <summary>
/// Every explainer, simulator and scorer by the name a run chooses it by. Adding one is its file plus one line here.
/// </summary>
public static class ExplanationRegistry
{
    public static IReadOnlyList<Registration<IExplainer>> Explainers { get; } =
    [
        new(BaselineExplainer.BaselineName, UsesLlm: false, _ => new BaselineExplainer()),
        new("pairs", UsesLlm: true, c => new LlmExplainer(c.Llm, c.Model, ExplainerStyle.TokenActivationPair)),
        new("lookup-table", UsesLlm: true, c => new LlmExplainer(c.Llm, c.Model, ExplainerStyle.TokenLookupTable)),
    ];

    public static IReadOnlyList<Registration<ISimulator>> Simulators { get; } =
    [
        new(BaselineExplainer.BaselineName, UsesLlm: false, _ => new BaselineSimulator()),
        new("chat", UsesLlm: true, c => new ChatSimulator(c.Llm, c.Model)),
        new("all-at-once", UsesLlm: true, c => new AllAtOnceSimulator(c.Llm, c.Model)),
    ];

    /// <summary>Scorers of the chosen explanation; a judging one asks the simulator's LLM, or judges offline with the baseline simulator.</summary>
    public static IReadOnlyList<Registration<IScorer>> Scorers { get; } =
    [
        new(SimulationCorrelationScorer.Name, UsesLlm: false, _ => new SimulationCorrelationScorer()),
        new(JudgedScorer.DetectionName, UsesLlm: false, c => new JudgedScorer(JudgeTask.Detection, Judge(c))),
        new(JudgedScorer.FuzzingName, UsesLlm: false, c => new JudgedScorer(JudgeTask.Fuzzing, Judge(c))),
    ];

    static IExcerptJudge Judge(ComponentContext c) => c.AsksLlm ? new LlmJudge(c.Llm, c.Model) : new BaselineJudge();

    /// <summary>
    /// The component <paramref name="name"/> chooses: the registered one of that name that asks no LLM, or else the
    /// LLM one registered as <paramref name="method"/> (an error naming <paramref name="methodSetting"/> when there is
    /// none) with <paramref name="name"/> as its model.
    /// </summary>
    public static (Registration<T> Registration, string? Model) Resolve<T>(IReadOnlyList<Registration<T>> registrations, string name, string method,
        string methodSetting)
    {
        if (registrations.FirstOrDefault(r => !r.UsesLlm && r.Name == name) is { } offline) return (offline, null);
        return (Find([.. registrations.Where(r => r.UsesLlm)], method, methodSetting), name);
    }

    /// <summary>The registration called <paramref name="name"/>, or an error naming <paramref name="setting"/> and every known name.</summary>
    public static Registration<T> Find<T>(IReadOnlyList<Registration<T>> registrations, string name, string setting) =>
        registrations.FirstOrDefault(r => r.Name == name)
        ?? throw SettingException.Of<ExplanationSettings>(setting, $"'{name}' is not known; expected {string.Join(" or ", registrations.Select(r => r.Name))}");
}
