using System.Text.RegularExpressions;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli;

/// <summary>
/// The flag that sets each library setting, so a library error names the flag the user typed: the library names a
/// setting as <c>Type.Property</c> (a <see cref="SettingException"/>'s own, or one its advice mentions), and its advice
/// to start over or replace as a constant the CLI says with its flags.
/// </summary>
internal static partial class SettingFlags
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
        [Name<ExplanationSettings>(nameof(ExplanationSettings.Protocol))] = "--protocol",
        [Name<CollectionSettings>(nameof(CollectionSettings.Layers))] = "--layers",
        [Name<CollectionSettings>(nameof(CollectionSettings.SequenceLength))] = "--seq-len",
        [Name<CollectionSettings>(nameof(CollectionSettings.TopK))] = "--top-k",
        [Name<CollectionSettings>(nameof(CollectionSettings.RandomSamples))] = "--random",
        [Name<CollectionSettings>(nameof(CollectionSettings.Quantiles))] = "--quantiles",
        [Name<CollectionSettings>(nameof(CollectionSettings.PerQuantile))] = "--per-quantile",
        [Name<CollectionSettings>(nameof(CollectionSettings.MaxTokens))] = "--max-tokens",
        [Name<CollectionSettings>(nameof(CollectionSettings.MinTokenCount))] = "--min-token-count",
        [Name<CollectionSettings>(nameof(CollectionSettings.BatchWindows))] = "--batch",
        [Name<CollectionSettings>(nameof(CollectionSettings.CheckpointWindows))] = "--checkpoint-every",
        [Name<CollectionSettings>(nameof(CollectionSettings.MemoryBudget))] = "--memory",
        [Name<CollectionSettings>(nameof(CollectionSettings.CorpusShard))] = "--corpus-shard",
        [Name<CorpusOptions>(nameof(CorpusOptions.TextField))] = "--text-field",
        [Name<ModelLocation>(nameof(ModelLocation.GivenTokenizer))] = "--tokenizer",
        [Name<LlmEndpoint>(nameof(LlmEndpoint.BaseUrl))] = "--base-url",
        [Name<LlmEndpoint>(nameof(LlmEndpoint.ApiKeyEnv))] = "--api-key-env",
        [Name<LlmPipelineOptions>(nameof(LlmPipelineOptions.Concurrency))] = "--concurrency",
        [Name<LlmPipelineOptions>(nameof(LlmPipelineOptions.MaxCost))] = "--max-cost",
        [$"{nameof(PriceTable)}.{nameof(PriceTable.Load)}"] = "--prices",
        [$"{nameof(OpenAiDataset)}.{nameof(OpenAiDataset.Import)}.source"] = "--source",
        [Name<ExportOptions>(nameof(ExportOptions.OpenAiFieldsOnly))] = "--openai-fields-only",
        [Name<ExportOptions>(nameof(ExportOptions.Kind))] = "--kind",
    };

    /// <summary>The library's advice as the CLI gives it.</summary>
    static readonly Dictionary<string, string> Advice = new()
    {
        [Collector.StartOverAdvice] = "run collect with --force to start over",
        [OpenAiDataset.ReplaceAdvice] = "import into another --store, or use --force to import anyway (replacing what the store holds)",
    };

    /// <summary>The error's message with flags in place of the library's setting names and advice.</summary>
    public static string Message(Exception e) => Text(e.Message);

    /// <summary>
    /// <paramref name="text"/> (an error, a stop reason, a memory plan line) with every setting the library names in it as its flag,
    /// and its advice in the CLI's words; a setting no flag sets stays as the library names it.
    /// </summary>
    public static string Text(string text)
    {
        foreach (var (library, cli) in Advice) text = text.Replace(library, cli, StringComparison.Ordinal);
        return SettingName().Replace(text, m => Flags.GetValueOrDefault(m.Value, m.Value));
    }

    static string Name<T>(string property) => SettingException.Of<T>(property, "").Setting;

    [GeneratedRegex(@"\b[A-Z]\w*(\.\w+)+")]
    private static partial Regex SettingName();
}
