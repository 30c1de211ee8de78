namespace NeuronExplainer.Models;

public enum NormKind { LayerNorm, RmsNorm }

/// <summary>The MLP nonlinearity. With a gated MLP (Llama's SwiGLU) it is applied to the gate projection only.</summary>
public enum MlpActivation { GeluNew, Relu, Silu }

/// <summary>Everything about a decoder-only transformer's shape that the forward pass needs.</summary>
public sealed record TransformerConfig(
    string Architecture,
    int LayerCount,
    int ModelDim,
    int MlpDim,
    int HeadCount,
    int KvHeadCount,
    int HeadDim,
    int VocabSize,
    int MaxContext,
    NormKind Norm,
    float NormEps,
    MlpActivation Activation,
    bool GatedMlp,
    bool LearnedPositions,
    float RopeTheta,
    bool PrependsBos)
{
    public int QueryDim => HeadCount * HeadDim;
    public int KvDim => KvHeadCount * HeadDim;

    /// <summary>Width of the fused query/key/value projection's output.</summary>
    public int QkvDim => QueryDim + 2 * KvDim;

    /// <summary>Checks the invariants the kernels rely on; <paramref name="source"/> names the file they came from.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new NeuronExplainerException($"{source}: {what}");
        }
        Require(LayerCount > 0 && ModelDim > 0 && MlpDim > 0 && VocabSize > 0 && MaxContext > 0 && HeadCount > 0 && KvHeadCount > 0 && HeadDim > 0,
            $"layer count, widths, head counts, vocabulary and context must be positive (got layers={LayerCount}, d_model={ModelDim}, d_mlp={MlpDim}, heads={HeadCount}, kv_heads={KvHeadCount}, head_dim={HeadDim}, vocab={VocabSize}, context={MaxContext})");
        Require(HeadCount % KvHeadCount == 0, $"{HeadCount} attention heads are not a multiple of {KvHeadCount} key/value heads");
        Require(LearnedPositions || HeadDim % 2 == 0, $"rotary embeddings need an even head dimension, got {HeadDim}");
        Require(NormEps > 0 && float.IsFinite(NormEps), $"normalisation epsilon must be positive, got {NormEps}");
    }
}

/// <summary>A normalisation's scale and (LayerNorm only) shift.</summary>
public sealed record NormWeights(float[] Weight, float[]? Bias);

/// <summary>
/// One block's weights. Every projection is stored [out, in] (row per output unit, as torch.nn.Linear),
/// so every product is x · Wᵀ; GPT-2's Conv1D [in, out] weights are transposed on load. Projections are
/// <see cref="WeightMatrix"/> (float32 or bf16); norms and biases are float32.
/// </summary>
/// <param name="MlpIn">Goes through the activation: GPT-2's c_fc, Llama's gate_proj (w1).</param>
/// <param name="MlpUp">The linear factor of a gated MLP, multiplied by the activation: Llama's up_proj (w3); null for GPT-2.</param>
/// <param name="MlpOut">GPT-2's c_proj, Llama's down_proj (w2).</param>
public sealed record LayerWeights(
    NormWeights AttentionNorm,
    WeightMatrix Qkv,
    float[]? QkvBias,
    WeightMatrix AttentionOut,
    float[]? AttentionOutBias,
    NormWeights MlpNorm,
    WeightMatrix MlpIn,
    float[]? MlpInBias,
    WeightMatrix? MlpUp,
    WeightMatrix MlpOut,
    float[]? MlpOutBias);

/// <summary>
/// A whole model's weights: the projections and token embeddings as <see cref="WeightMatrix"/> (float32 or bf16), the
/// rest float32. <see cref="Unembedding"/> may be the same matrix as <see cref="Embedding"/> (tied).
/// </summary>
public sealed record TransformerWeights(
    TransformerConfig Config,
    WeightMatrix Embedding,
    float[]? PositionEmbedding,
    IReadOnlyList<LayerWeights> Layers,
    NormWeights FinalNorm,
    WeightMatrix Unembedding)
{
    /// <summary>How the weight matrices are held (every one the same way).</summary>
    public WeightDType DType => Embedding.DType;

    /// <summary>Bytes of every weight: matrices (tied ones once), norms, biases and position embeddings.</summary>
    public long Bytes
    {
        get
        {
            static long Of(float[]? values) => 4L * (values?.Length ?? 0);
            static long Norm(NormWeights norm) => Of(norm.Weight) + Of(norm.Bias);
            var total = Embedding.Bytes + (ReferenceEquals(Unembedding, Embedding) ? 0 : Unembedding.Bytes) + Of(PositionEmbedding) + Norm(FinalNorm);
            foreach (var l in Layers)
                total += l.Qkv.Bytes + l.AttentionOut.Bytes + l.MlpIn.Bytes + (l.MlpUp?.Bytes ?? 0) + l.MlpOut.Bytes
                    + Of(l.QkvBias) + Of(l.AttentionOutBias) + Of(l.MlpInBias) + Of(l.MlpOutBias) + Norm(l.AttentionNorm) + Norm(l.MlpNorm);
            return total;
        }
    }

    /// <summary>
    /// Random weights of a given shape (normal, std 0.02 like GPT-2's initialisation; norms at 1, biases 0),
    /// for benchmarks and tests that need a realistically sized model without a checkpoint.
    /// </summary>
    public static TransformerWeights Random(TransformerConfig config, int seed, WeightDType dtype = WeightDType.Float32)
    {
        var random = new Random(seed);
        float[] Normal(int length)
        {
            var values = new float[length];
            for (var i = 0; i < length; i += 2)
            {
                // Box-Muller: two normals per pair of uniforms.
                var radius = 0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
                var angle = 2 * Math.PI * random.NextDouble();
                values[i] = (float)(radius * Math.Cos(angle));
                if (i + 1 < length) values[i + 1] = (float)(radius * Math.Sin(angle));
            }
            return values;
        }
        // Each matrix is rounded as soon as it is drawn, so a bf16 model never holds its float32 values at once.
        WeightMatrix Matrix(int length) => WeightMatrix.Of(Normal(length), dtype);
        float[]? Bias(int length) => config.Norm == NormKind.LayerNorm ? new float[length] : null;
        NormWeights Norm() => new(Enumerable.Repeat(1f, config.ModelDim).ToArray(), Bias(config.ModelDim));

        int d = config.ModelDim, mlp = config.MlpDim;
        var layers = Enumerable.Range(0, config.LayerCount).Select(_ => new LayerWeights(
            Norm(), Matrix(config.QkvDim * d), Bias(config.QkvDim), Matrix(d * config.QueryDim), Bias(d),
            Norm(), Matrix(mlp * d), Bias(mlp), config.GatedMlp ? Matrix(mlp * d) : null, Matrix(d * mlp), Bias(d))).ToList();
        var embedding = Matrix(config.VocabSize * d);
        return new TransformerWeights(config, embedding, config.LearnedPositions ? Normal(config.MaxContext * d) : null,
            layers, Norm(), embedding);
    }
}
