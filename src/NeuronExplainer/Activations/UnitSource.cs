using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Sae;

namespace NeuronExplainer.Activations;

/// <summary>
/// Where collection reads one kind of unit: the hook holding a layer's activations (one row per token) and how many
/// units each row has, and for units computed from a hook (SAE latents) the <see cref="Encoder"/> that turns its rows
/// into theirs. MLP neurons read <c>blocks.L.mlp.hook_post</c> as it is; an SAE's latents encode the hook it reads; attention
/// heads turn <c>blocks.L.attn.hook_z</c> into the norms of their outputs (<see cref="HeadOutputNorms"/>).
/// </summary>
public sealed record UnitSource(UnitKind Kind, Func<int, string> Hook, int Width)
{
    /// <summary>Turns a hook's rows into the units' rows; null when the hook's values are the units'.</summary>
    public IUnitEncoder? Encoder { get; init; }

    /// <summary>The SAE whose latents these are, else null.</summary>
    public SparseAutoencoder? Sae => (Encoder as SaeEncoder)?.Sae;

    /// <summary>The SAE's id (<c>res-jb-8</c>) for SAE latents, else null.</summary>
    public string? SaeId { get; init; }

    /// <summary>The layers whose units this source has; null: any the settings choose (MLP neurons).</summary>
    public IReadOnlyList<int>? FixedLayers { get; init; }

    /// <summary>The MLP neurons of <paramref name="model"/>: <c>blocks.L.mlp.hook_post</c>, d_mlp wide.</summary>
    public static UnitSource MlpNeurons(ModelInfo model) => new(UnitKind.Neuron, ForwardRequest.MlpPost, model.MlpDim);

    /// <summary>
    /// The latents of <paramref name="sae"/> on <paramref name="model"/>, named <paramref name="id"/>; checks that the model
    /// has the SAE's hook at its width (the error names the SAE's cfg.json field).
    /// </summary>
    public static UnitSource SaeLatents(SparseAutoencoder sae, string id, ModelInfo model, IGemm? gemm = null)
    {
        var point = sae.CheckFits(model);
        return new UnitSource(UnitKind.SaeLatent, _ => sae.Config.Hook, sae.Config.LatentCount)
        {
            Encoder = new SaeEncoder(sae, gemm ?? GemmBackends.Default), SaeId = id, FixedLayers = [point.Layer],
        };
    }

    /// <summary>
    /// The attention heads of <paramref name="model"/>: <c>blocks.L.attn.hook_z</c> turned into each head's output norm, one
    /// unit per query head (grouped KV heads counted per query head).
    /// </summary>
    public static UnitSource AttentionHeads(ITransformerModel model, IGemm? gemm = null)
    {
        if (model.Info.HeadCount <= 0)
            throw new NeuronExplainerException($"model {model.Info.Name} has no attention heads (head count {model.Info.HeadCount}); expected a transformer with attention");
        return new UnitSource(UnitKind.AttentionHead, layer => $"blocks.{layer}.attn.hook_z", model.Info.HeadCount)
        {
            Encoder = new HeadOutputNorms(model, gemm ?? GemmBackends.Default),
        };
    }

    /// <summary>The identity of unit <paramref name="index"/> of <paramref name="layer"/>.</summary>
    public NeuronId Id(int layer, int index) => Kind == UnitKind.SaeLatent
        ? NeuronId.Latent(SaeId ?? throw new InvalidOperationException("SAE latents need an SAE id"), layer, index)
        : new NeuronId(layer, index) { Kind = Kind };

    /// <summary>The units' rows [rows, Width] of a forward result; an encoder's buffer is overwritten by its next call.</summary>
    public ReadOnlySpan<float> Read(ForwardResult result, int layer, int rows)
    {
        var hook = result.Hook(Hook(layer));
        return Encoder is null ? hook : Encoder.Encode(hook, layer, rows);
    }
}

/// <summary>
/// The units one sampler keeps: a source's units at one layer (one layer's MLP neurons or heads, or one SAE's latents).
/// A collection has one block per layer of one source, or one per SAE.
/// </summary>
public sealed record UnitBlock(UnitSource Units, int Layer)
{
    /// <summary>The hook the block's units are read from.</summary>
    public string Hook => Units.Hook(Layer);

    public int Width => Units.Width;

    /// <summary>The identity of the block's unit <paramref name="index"/>.</summary>
    public NeuronId Id(int index) => Units.Id(Layer, index);

    /// <summary>The block's rows [rows, Width] of a forward result (see <see cref="UnitSource.Read"/>).</summary>
    public ReadOnlySpan<float> Read(ForwardResult result, int rows) => Units.Read(result, Layer, rows);

    /// <summary>The block as messages name it: <c>layer 3</c>, or <c>SAE res-jb-8</c>.</summary>
    public override string ToString() => Units.SaeId is { } id ? $"SAE {id}" : $"layer {Layer}";
}

/// <summary>Turns the rows of a layer's hook into the rows of units computed from them (SAE latents, attention heads).</summary>
public interface IUnitEncoder
{
    /// <summary>The units' rows [rows, width] from the hook's; the buffer is overwritten by the next call.</summary>
    ReadOnlySpan<float> Encode(ReadOnlySpan<float> hook, int layer, int rows);

    /// <summary>Bytes the encoder's buffers take for <paramref name="rows"/> rows.</summary>
    long BufferBytes(long rows);
}

/// <summary>Encodes hook rows into an SAE's latents in buffers kept for the largest batch seen.</summary>
public sealed class SaeEncoder(SparseAutoencoder sae, IGemm gemm) : IUnitEncoder
{
    float[] latents = [], scratch = [];

    public SparseAutoencoder Sae => sae;

    /// <summary>Bytes the buffers take for <paramref name="rows"/> rows.</summary>
    public long BufferBytes(long rows) => 4 * rows * (sae.Config.LatentCount + sae.Config.InputDim);

    /// <summary>Every layer's rows the same way: an SAE reads one hook.</summary>
    public ReadOnlySpan<float> Encode(ReadOnlySpan<float> hook, int layer, int rows)
    {
        if (latents.Length < (long)rows * sae.Config.LatentCount)
        {
            latents = GC.AllocateUninitializedArray<float>(checked(rows * sae.Config.LatentCount));
            scratch = GC.AllocateUninitializedArray<float>(rows * sae.Config.InputDim);
        }
        var output = latents.AsSpan(0, rows * sae.Config.LatentCount);
        sae.Encode(hook, rows, output, scratch, gemm);
        return output;
    }
}
