namespace NeuronExplainer.Models;

/// <summary>Shape and identity of a loaded model, and how its weight matrices are held.</summary>
public sealed record ModelInfo(
    string Name,
    string Architecture,
    int LayerCount,
    int ModelDim,
    int MlpDim,
    int VocabSize,
    int MaxContext,
    bool PrependsBos,
    int HeadCount,
    int HeadDim,
    WeightDType DType = WeightDType.Float32);

/// <summary>
/// Changes the values at a hook point in place during the pass, as a TransformerLens hook function does:
/// <paramref name="values"/> is row-major [batch, seq, width]; what it holds afterwards flows on through the model
/// (and is what a read of the same hook returns).
/// </summary>
public delegate void HookEdit(Span<float> values, int batch, int sequenceLength, int width);

/// <summary>An edit of one hook point; every hook but <c>attn.hook_pattern</c> is writable.</summary>
public sealed record HookPatch(string Hook, HookEdit Edit);

/// <summary>
/// What a forward pass should return: activations at TransformerLens-named hook points (see <see cref="HookKind"/>:
/// <c>blocks.L.hook_resid_pre</c>, <c>attn.hook_z</c>, <c>attn.hook_pattern</c>, <c>hook_attn_out</c>,
/// <c>mlp.hook_post</c>, <c>hook_mlp_out</c>, <c>hook_resid_post</c>) and optionally logits, with
/// <paramref name="Patches"/> applied on the way (e.g. a neuron set to zero: ablation). Only the requested hooks are
/// copied out; the pass stops after the deepest layer any requested hook or patch needs.
/// </summary>
public sealed record ForwardRequest(IReadOnlyList<string> Hooks, bool Logits = false, IReadOnlyList<HookPatch>? Patches = null)
{
    public static string MlpPost(int layer) => $"blocks.{layer}.mlp.hook_post";
    public static string ResidPost(int layer) => $"blocks.{layer}.hook_resid_post";
    public static string AttnPattern(int layer) => $"blocks.{layer}.attn.hook_pattern";
    public static string ResidPre(int layer) => $"blocks.{layer}.hook_resid_pre";
}

/// <summary>
/// A transformer language model run in-process. GPT-2 and the Llama family implement it.
/// </summary>
public interface ITransformerModel : IDisposable
{
    ModelInfo Info { get; }

    ITokenizer Tokenizer { get; }

    /// <summary>
    /// Runs <paramref name="batchSize"/> windows of <paramref name="sequenceLength"/> token ids each
    /// (row-major in <paramref name="tokens"/>; BOS, when wanted, is already in the window).
    /// Hook outputs are row-major [batch, seq, width] (attention patterns [batch, head, query, key]; see
    /// <see cref="HookPoint.Width"/>),
    /// logits [batch, seq, vocab]. The buffers belong to the model and are overwritten by the next call.
    /// </summary>
    ForwardResult Forward(ReadOnlySpan<int> tokens, int batchSize, int sequenceLength, ForwardRequest request);

    /// <summary>
    /// Gives up the hook buffers and workspace kept from one forward call to the next (the next call allocates them again),
    /// for a caller done with forward passes for a while: the collection writing records after its second pass.
    /// </summary>
    void ReleaseBuffers();

    /// <summary>Weights needed for weight-based neuron/token connections; <see cref="MlpWeights.Out"/> may be a fresh copy per call.</summary>
    MlpWeights GetMlpWeights(int layer);

    /// <summary>
    /// Token embedding [vocab, d_model] and unembedding [vocab, d_model] (row per token), and the gain [d_model] of the
    /// final norm before the unembedding (GPT-2's ln_f.g; Llama's final RMSNorm weight).
    /// </summary>
    (ReadOnlyMemory<float> Embedding, ReadOnlyMemory<float> Unembedding, ReadOnlyMemory<float> FinalNormGain) GetTokenMatrices();

    /// <summary>
    /// The attention output projection W_O of <paramref name="layer"/>, [d_model, heads x d_head] row-major: row o is output
    /// dimension o, head h owns columns h·d_head to (h+1)·d_head - 1 (GPT-2's c_proj transposed, Llama's o_proj as stored).
    /// </summary>
    ReadOnlyMemory<float> GetAttentionOutWeights(int layer);
}

/// <summary>
/// One MLP's weights as row-per-neuron matrices, named as Hugging Face names Llama's: <see cref="In"/> [d_mlp, d_model]
/// reads the residual stream into each neuron through the activation (GPT-2's c_fc; Llama's gate_proj, w1),
/// <see cref="Up"/> is the linear factor the activation is multiplied by (Llama's up_proj, w3; null for GPT-2),
/// <see cref="Out"/> [d_mlp, d_model] is what each neuron writes back (c_proj; down_proj, w2, transposed),
/// <see cref="NormGain"/> [d_model] is the gain of the norm that feeds the MLP (GPT-2's ln_2.g; Llama's post-attention RMSNorm weight).
/// </summary>
public sealed record MlpWeights(ReadOnlyMemory<float> In, ReadOnlyMemory<float>? Up, ReadOnlyMemory<float> Out, ReadOnlyMemory<float> NormGain);

/// <summary>Outputs of one forward pass, keyed by hook name.</summary>
public sealed class ForwardResult(IReadOnlyDictionary<string, ReadOnlyMemory<float>> hooks, ReadOnlyMemory<float>? logits)
{
    public ReadOnlyMemory<float>? Logits { get; } = logits;

    public ReadOnlySpan<float> Hook(string name) => hooks.TryGetValue(name, out var value)
        ? value.Span
        : throw new KeyNotFoundException($"hook '{name}' was not requested in this forward pass");
}
