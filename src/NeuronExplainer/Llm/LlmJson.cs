using System.Text.Json.Serialization;

namespace NeuronExplainer.Llm;

/// <summary>Source-generated JSON for the LLM records: cache keys, cached responses and price tables.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ChatRequest))]
[JsonSerializable(typeof(CompletionRequest))]
[JsonSerializable(typeof(ChatResponse))]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(Dictionary<string, ModelPrice>))]
internal sealed partial class LlmJson : JsonSerializerContext;
