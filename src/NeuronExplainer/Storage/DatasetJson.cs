using System.Text.Json;
using System.Text.Json.Serialization;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>Source-generated JSON for OpenAI's dataset types (snake_case names as in their files).</summary>
[JsonSourceGenerationOptions(
    WriteIndented = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    AllowTrailingCommas = false,
    RespectNullableAnnotations = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(NeuronId))]
[JsonSerializable(typeof(ActivationRecord))]
[JsonSerializable(typeof(NeuronRecord))]
[JsonSerializable(typeof(TokenLookupTableSummaryOfNeuron))]
[JsonSerializable(typeof(WeightBasedSummaryOfNeuron))]
[JsonSerializable(typeof(NeuronConnections))]
[JsonSerializable(typeof(SequenceSimulation))]
[JsonSerializable(typeof(ScoredSequenceSimulation))]
[JsonSerializable(typeof(ScoredSimulation))]
[JsonSerializable(typeof(ScoredExplanation))]
[JsonSerializable(typeof(NeuronSimulationResults))]
public sealed partial class DatasetJson : JsonSerializerContext;
