namespace NeuronExplainer.Activations;

/// <summary>What a run was made from, so a store is never mixed with another run's settings.</summary>
public sealed record RunManifest(
    string Model,
    string Corpus,
    IReadOnlyDictionary<string, string> Settings,
    string ToolVersion,
    DateTimeOffset CreatedAt);
