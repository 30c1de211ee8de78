using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Explanations;

public class DatasetRecordEqualityTests
{
    [Fact]
    public void A_record_read_from_json_equals_the_same_record_built_in_code()
    {
        var built = new NeuronId(3, 7);
        var read = JsonSerializer.Deserialize(JsonSerializer.Serialize(built, DatasetJson.Default.NeuronId), DatasetJson.Default.NeuronId)!;
        Assert.Equal(built, read);
        Assert.Equal(built.GetHashCode(), read.GetHashCode());
        Assert.Contains(read, new HashSet<NeuronId> { built });
    }

    [Fact]
    public void A_wrong_dataclass_name_is_still_refused() =>
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize(
            """{"dataclass_name":"ActivationRecord","layer_index":1,"neuron_index":2}""", DatasetJson.Default.NeuronId));
}
