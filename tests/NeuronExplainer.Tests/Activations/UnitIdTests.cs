using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

/// <summary>The identity of an explained unit carries its kind; an MLP neuron keeps OpenAI's fields and the L/N spelling.</summary>
public class UnitIdTests
{
    [Fact]
    public void An_mlp_neuron_keeps_its_spelling_and_json_and_other_kinds_say_theirs()
    {
        var neuron = new NeuronId(3, 127);
        Assert.Equal("3/127", neuron.ToString());
        Assert.Equal(neuron, NeuronId.Parse("3/127"));
        Assert.Equal("""{"dataclass_name":"NeuronId","layer_index":3,"neuron_index":127}""", JsonSerializer.Serialize(neuron, DatasetJson.Default.NeuronId));

        var head = new NeuronId(2, 5) { Kind = UnitKind.AttentionHead };
        Assert.Equal("head:2/5", head.ToString());
        Assert.Equal(head, NeuronId.Parse("head:2/5"));
        Assert.NotEqual(new NeuronId(2, 5), head);
        string json = JsonSerializer.Serialize(head, DatasetJson.Default.NeuronId);
        Assert.Equal("""{"dataclass_name":"NeuronId","layer_index":2,"neuron_index":5,"unit_kind":"head"}""", json);
        Assert.Equal(head, JsonSerializer.Deserialize(json, DatasetJson.Default.NeuronId));
        Assert.Equal(UnitKind.SaeLatent, NeuronId.Parse("sae:0/4096").Kind);
        Assert.Throws<FormatException>(() => NeuronId.Parse("mlp:1/2"));
    }

    [Fact]
    public void The_mlp_neuron_unit_source_reads_the_mlp_hook_at_the_model_width()
    {
        var units = UnitSource.MlpNeurons(new FakeModel(width: 7).Info);
        Assert.Equal((UnitKind.Neuron, "blocks.4.mlp.hook_post", 7), (units.Kind, units.Hook(4), units.Width));
    }

    [Fact]
    public void The_sqlite_store_refuses_a_kind_its_keys_cannot_tell_apart_from_a_neuron()
    {
        using var temp = new TempStore();
        var head = new NeuronId(0, 1) { Kind = UnitKind.AttentionHead };
        var e = Assert.Throws<NeuronExplainerException>(() => temp.Store.PutNeuronRecords([StoreFixtures.Record(0, 1) with { NeuronId = head }]));
        Assert.Contains("holds MLP neurons only, not head:0/1", e.Message);
        Assert.Empty(temp.Store.ListNeurons());
    }
}
