using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Where collection reads one kind of unit: the hook holding a layer's activations (one row per token) and how many
/// units each row has. MLP neurons today; attention heads and SAE latents add their own sources (and the weight-based
/// views, which read MLP weights, are for MLP neurons only).
/// </summary>
public sealed record UnitSource(UnitKind Kind, Func<int, string> Hook, int Width)
{
    /// <summary>The MLP neurons of <paramref name="model"/>: <c>blocks.L.mlp.hook_post</c>, d_mlp wide.</summary>
    public static UnitSource MlpNeurons(ModelInfo model) => new(UnitKind.Neuron, ForwardRequest.MlpPost, model.MlpDim);
}
