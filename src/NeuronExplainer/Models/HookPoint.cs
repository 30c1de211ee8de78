using System.Globalization;
using System.Text.RegularExpressions;

namespace NeuronExplainer.Models;

/// <summary>
/// The hook points of a block, with TransformerLens's meaning: <see cref="ResidPre"/> is the residual stream entering
/// block L (for L = 0 the token plus position embedding), <see cref="AttnZ"/> every head's attention-weighted values
/// before the output projection ([seq, heads x d_head], head-major as TransformerLens's [seq, head, d_head] flattened),
/// <see cref="AttnOut"/> and <see cref="MlpOut"/> what attention and the MLP add to the residual stream (biases
/// included), <see cref="ResidPost"/> the residual stream leaving the block.
/// </summary>
public enum HookKind { MlpPost, ResidPost, AttentionPattern, ResidPre, AttnZ, AttnOut, MlpOut }

/// <summary>A parsed TransformerLens-style hook name such as <c>blocks.3.mlp.hook_post</c>.</summary>
public readonly record struct HookPoint(int Layer, HookKind Kind)
{
    static readonly (string Name, HookKind Kind)[] Names =
    [
        ("hook_resid_pre", HookKind.ResidPre), ("attn.hook_z", HookKind.AttnZ), ("attn.hook_pattern", HookKind.AttentionPattern),
        ("hook_attn_out", HookKind.AttnOut), ("mlp.hook_post", HookKind.MlpPost), ("hook_mlp_out", HookKind.MlpOut),
        ("hook_resid_post", HookKind.ResidPost),
    ];

    static readonly Regex Pattern = new($@"^blocks\.(\d{{1,6}})\.({string.Join('|', Names.Select(n => Regex.Escape(n.Name)))})$", RegexOptions.CultureInvariant);

    /// <summary>The hook names a block has, for error messages: <c>blocks.L.hook_resid_pre</c>, ...</summary>
    public static string Known => string.Join(", ", Names.Select(n => $"blocks.L.{n.Name}"));

    public static HookPoint Parse(string name, int layerCount)
    {
        var match = Pattern.Match(name);
        if (!match.Success)
            throw new NeuronExplainerException($"unknown hook '{name}'; expected one of {Known}");
        var layer = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        if (layer >= layerCount)
            throw new NeuronExplainerException($"hook '{name}': layer {layer} is out of range; the model has {layerCount} layers (0-{layerCount - 1})");
        return new HookPoint(layer, Names.First(n => n.Name == match.Groups[2].Value).Kind);
    }

    /// <summary>The hook's name, <c>blocks.L.…</c>.</summary>
    public override string ToString()
    {
        var kind = Kind;
        return $"blocks.{Layer}.{Names.First(n => n.Kind == kind).Name}";
    }

    /// <summary>Values per token at this hook (attention patterns have none: they are [head, query, key] per window).</summary>
    public int Width(ModelInfo model) => Kind switch
    {
        HookKind.MlpPost => model.MlpDim,
        HookKind.AttnZ => model.HeadCount * model.HeadDim,
        HookKind.AttentionPattern => throw new NeuronExplainerException($"hook '{this}' holds attention patterns, which have no width per token"),
        _ => model.ModelDim,
    };
}
