using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer;

/// <summary>
/// Base of every type that OpenAI's neuron-explainer serialises with a <c>dataclass_name</c> tag.
/// The tag is written first, as their files have it, and checked when read so a file of another
/// type is refused instead of half-loaded.
/// </summary>
public abstract record DatasetRecord : IJsonOnDeserialized
{
    [JsonPropertyName("dataclass_name"), JsonPropertyOrder(-100)]
    public string DataclassName
    {
        get => field ?? ExpectedName;
        // Only a wrong tag is kept (to be refused after reading), so a record read from JSON equals one built in code.
        init => field = value == ExpectedName ? null : value;
    }

    [JsonIgnore]
    private string ExpectedName => GetType().Name;

    void IJsonOnDeserialized.OnDeserialized()
    {
        if (DataclassName != ExpectedName)
            throw new JsonException($"dataclass_name is '{DataclassName}' where '{ExpectedName}' was expected");
        Validate();
    }

    /// <summary>Checks invariants after reading; throws <see cref="JsonException"/> naming the field.</summary>
    protected virtual void Validate() { }

    internal static void RequireFinite(IReadOnlyList<double> values, string field)
    {
        for (int i = 0; i < values.Count; i++)
            if (!double.IsFinite(values[i]))
                throw new JsonException($"{field}[{i}] is {values[i]}; activations must be finite numbers");
    }
}
