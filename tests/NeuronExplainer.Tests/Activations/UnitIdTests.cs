using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

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
        Assert.Throws<FormatException>(() => NeuronId.Parse("mlp:1/2"));
    }

    [Fact]
    public void An_sae_latent_is_spelled_by_its_sae_id_and_index_and_its_layer_is_not_part_of_its_identity()
    {
        var latent = NeuronId.Latent("res-jb-8", 8, 1234);
        Assert.Equal("sae:res-jb-8/1234", latent.ToString());
        Assert.Equal("sae:res-jb-8", latent.KindKey);
        var parsed = NeuronId.Parse("sae:res-jb-8/1234");
        Assert.Equal((UnitKind.SaeLatent, "res-jb-8", NeuronId.UnknownLayer, 1234), (parsed.Kind, parsed.Sae, parsed.LayerIndex, parsed.NeuronIndex));
        Assert.Equal(latent, parsed);
        Assert.Equal(latent.GetHashCode(), parsed.GetHashCode());
        Assert.NotEqual(latent, NeuronId.Latent("res-jb-9", 8, 1234));
        Assert.NotEqual(new NeuronId(8, 1234), latent);
        Assert.Equal(latent, NeuronId.FromKey(latent.KindKey, 8, 1234));
        Assert.Equal(NeuronId.Head(2, 5), NeuronId.FromKey("head", 2, 5));
        Assert.Equal("sae:a.b_c-d/0", NeuronId.Parse("sae:a.b_c-d/0").ToString());

        string json = JsonSerializer.Serialize(latent, DatasetJson.Default.NeuronId);
        Assert.Equal("""{"dataclass_name":"NeuronId","layer_index":8,"neuron_index":1234,"unit_kind":"sae","sae_id":"res-jb-8"}""", json);
        Assert.Equal(latent, JsonSerializer.Deserialize(json, DatasetJson.Default.NeuronId));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("""{"dataclass_name":"NeuronId","layer_index":8,"neuron_index":1,"unit_kind":"sae"}""", DatasetJson.Default.NeuronId));

        foreach (var bad in new[] { "sae:/3", "sae:a b/3", "sae:x/", "sae:x/-1", "sae:x", "head:1", "3/-1", "sae:a/b/3" })
            Assert.Null(NeuronId.TryParse(bad));
        Assert.Contains("sae:SAE_ID/LATENT", Assert.Throws<FormatException>(() => NeuronId.Parse("sae:a b/3")).Message);
        Assert.Throws<FormatException>(() => NeuronId.Latent("a/b", 0, 1));
    }

    [Fact]
    public void The_mlp_neuron_unit_source_reads_the_mlp_hook_at_the_model_width()
    {
        var units = UnitSource.MlpNeurons(new FakeModel(width: 7).Info);
        Assert.Equal((UnitKind.Neuron, "blocks.4.mlp.hook_post", 7), (units.Kind, units.Hook(4), units.Width));
    }
}
