using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Cli;

/// <summary>The flag that sets each library setting, so a library error about a setting names the flag the user typed.</summary>
internal static class SettingFlags
{
    static readonly Dictionary<string, string> Flags = new()
    {
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Explainer))] = "--explainer",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.ExplainerMethod))] = "--explainer-method",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Simulator))] = "--simulator",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.SimulatorMethod))] = "--simulator-method",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Samples))] = "--samples",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Revisions))] = "--revise",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Concurrency))] = "--concurrency",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.MaxCost))] = "--max-cost",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Seed))] = "--scoring-seed",
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Scorers))] = "--scorers",
        [Name<CollectionSettings>(nameof(CollectionSettings.Layers))] = "--layers",
        [Name<CollectionSettings>(nameof(CollectionSettings.SequenceLength))] = "--seq-len",
        [Name<CollectionSettings>(nameof(CollectionSettings.TopK))] = "--top-k",
        [Name<CollectionSettings>(nameof(CollectionSettings.RandomSamples))] = "--random",
        [Name<CollectionSettings>(nameof(CollectionSettings.Quantiles))] = "--quantiles",
        [Name<CollectionSettings>(nameof(CollectionSettings.PerQuantile))] = "--per-quantile",
        [Name<CollectionSettings>(nameof(CollectionSettings.MaxTokens))] = "--max-tokens",
        [Name<CollectionSettings>(nameof(CollectionSettings.MinTokenCount))] = "--min-token-count",
        [Name<CollectionSettings>(nameof(CollectionSettings.BatchWindows))] = "--batch",
    };

    /// <summary>The error's message with the flag in place of the library's setting name (unchanged for a setting no flag sets).</summary>
    public static string Message(SettingException e) => Flags.TryGetValue(e.Setting, out var flag) ? $"{flag} {e.Problem}" : e.Message;

    static string Name<T>(string property) => SettingException.Of<T>(property, "").Setting;
}
