using System.Globalization;
using System.Text.RegularExpressions;

namespace NeuronExplainer.Models;

public enum HookKind { MlpPost, ResidPost, AttentionPattern }

/// <summary>A parsed TransformerLens-style hook name such as <c>blocks.3.mlp.hook_post</c>.</summary>
public readonly record struct HookPoint(int Layer, HookKind Kind)
{
    private static readonly Regex Pattern = new(@"^blocks\.(\d{1,6})\.(mlp\.hook_post|hook_resid_post|attn\.hook_pattern)$", RegexOptions.CultureInvariant);

    public static HookPoint Parse(string name, int layerCount)
    {
        var match = Pattern.Match(name);
        if (!match.Success)
            throw new NeuronExplainerException($"unknown hook '{name}'; expected blocks.L.mlp.hook_post, blocks.L.hook_resid_post or blocks.L.attn.hook_pattern");
        var layer = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        if (layer >= layerCount)
            throw new NeuronExplainerException($"hook '{name}': layer {layer} is out of range; the model has {layerCount} layers (0-{layerCount - 1})");
        var kind = match.Groups[2].Value switch
        {
            "mlp.hook_post" => HookKind.MlpPost,
            "hook_resid_post" => HookKind.ResidPost,
            _ => HookKind.AttentionPattern,
        };
        return new HookPoint(layer, kind);
    }
}
