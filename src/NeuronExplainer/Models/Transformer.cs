using NeuronExplainer.Models.Kernels;

namespace NeuronExplainer.Models;

/// <summary>
/// The forward pass of a decoder-only transformer, for both GPT-2 and the Llama family: the two differ only
/// in data (LayerNorm vs RMSNorm, learned positions vs rotary, GELU vs SwiGLU, biases or not), so one class
/// runs both. Windows of a batch are flattened into one [batch*seq, d] matrix so each projection is one GEMM;
/// attention runs per (window, head) in parallel. Work buffers are kept per batch shape, so the hot path
/// allocates nothing per layer. Not thread-safe: one forward pass at a time.
/// </summary>
public sealed class Transformer : ITransformerModel
{
    private readonly TransformerWeights _weights;
    private readonly TransformerConfig _config;
    private readonly IGemm _gemm;

    /// <summary>Attention's products are small (seq x seq x head_dim) and run one per worker thread, so they use a single-threaded managed kernel.</summary>
    private readonly ManagedGemm _attentionGemm = new(maxThreads: 1);

    private readonly float[]? _ropeCos, _ropeSin;
    private readonly Dictionary<string, float[]> _hookBuffers = [];
    private Workspace? _workspace;

    /// <summary>One attention worker per core: more only queue up behind each other (and each needs packing buffers).</summary>
    private static readonly ParallelOptions AttentionParallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    public Transformer(string name, TransformerWeights weights, ITokenizer tokenizer, IGemm? gemm = null)
    {
        _weights = weights;
        _config = weights.Config;
        _gemm = gemm ?? GemmBackends.Default;
        Tokenizer = tokenizer;
        Info = new ModelInfo(name, _config.Architecture, _config.LayerCount, _config.ModelDim, _config.MlpDim,
            _config.VocabSize, _config.MaxContext, _config.PrependsBos, _config.HeadCount, _config.HeadDim, weights.DType);
        if (!_config.LearnedPositions) (_ropeCos, _ropeSin) = RopeTables(_config);
        if (weights.DType == WeightDType.BFloat16) PrecisionNotice = Bf16Notice(_gemm);
    }

    /// <summary>
    /// For bf16 weights, which matrix-product path runs and why (the CLI prints it; the library prints nothing);
    /// null for float32.
    /// </summary>
    public string? PrecisionNotice { get; }

    private static string Bf16Notice(IGemm gemm)
    {
        var why = BFloat16.CpuHasAvx512Bf16
            ? "this CPU has AVX-512 BF16, but the engine has no bf16-instruction product (none could be tested here)"
            : "this CPU lacks AVX-512 BF16 (CPUID leaf 7.1 EAX bit 5 is clear)";
        var how = gemm is OpenBlasGemm
            ? $"weights are widened to float32 in panels of {OpenBlasGemm.PanelFloats * 4 / (1 << 20)} MB and multiplied by {gemm.Name} sgemm"
            : $"weights are widened to float32 as the {gemm.Name} kernel packs them";
        return $"bf16 weights (half the memory of float32): {why}, so {how}, with float32 accumulation; activations, norms and elementwise work stay float32";
    }

    public ModelInfo Info { get; }

    public ITokenizer Tokenizer { get; }

    public TransformerConfig Config => _config;

    /// <summary>Name of the GEMM backend the projections use.</summary>
    public string GemmName => _gemm.Name;

    public ForwardResult Forward(ReadOnlySpan<int> tokens, int batchSize, int sequenceLength, ForwardRequest request)
    {
        if (batchSize <= 0 || sequenceLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch {batchSize} x sequence {sequenceLength} must be positive");
        if (tokens.Length != batchSize * sequenceLength)
            throw new ArgumentException($"{tokens.Length} tokens given for a batch of {batchSize} windows of {sequenceLength}", nameof(tokens));
        if (sequenceLength > _config.MaxContext)
            throw new NeuronExplainerException($"window of {sequenceLength} tokens exceeds the model's context of {_config.MaxContext}");
        for (var i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)_config.VocabSize)
                throw new NeuronExplainerException($"token id {tokens[i]} at position {i} is outside the vocabulary (0-{_config.VocabSize - 1})");

        var hooks = request.Hooks.Distinct().Select(name => (Name: name, Point: HookPoint.Parse(name, _config.LayerCount))).ToList();
        // Per layer, the edit of each patched hook kind; null for a layer without patches, so an unpatched pass only
        // checks one reference per layer.
        var edits = new HookEdit?[]?[_config.LayerCount];
        foreach (var patch in request.Patches ?? [])
        {
            var point = HookPoint.Parse(patch.Hook, _config.LayerCount);
            if (point.Kind == HookKind.AttentionPattern)
                throw new NeuronExplainerException($"hook '{patch.Hook}' cannot be patched; attention patterns are not writable (every other hook is)");
            (edits[point.Layer] ??= new HookEdit?[HookKindCount])[(int)point.Kind] += patch.Edit;
        }
        var lastLayer = request.Logits ? _config.LayerCount - 1 : hooks.Count == 0 ? -1 : hooks.Max(h => h.Point.Layer);

        var ws = _workspace is { } w && w.Fits(batchSize, sequenceLength) ? w : _workspace = new Workspace(_config, batchSize, sequenceLength);
        ws.Batch = batchSize;
        ws.Seq = sequenceLength;
        var tokenCount = batchSize * sequenceLength;
        var outputs = new Dictionary<string, ReadOnlyMemory<float>>(hooks.Count);
        // Per layer, the buffer each requested hook kind is copied into (null: a layer with no hook requested).
        var targets = new float[]?[_config.LayerCount][];
        foreach (var (name, point) in hooks)
        {
            var length = point.Kind == HookKind.AttentionPattern
                ? batchSize * _config.HeadCount * sequenceLength * sequenceLength
                : tokenCount * point.Width(Info);
            var buffer = HookBuffer(name, length);
            (targets[point.Layer] ??= new float[]?[HookKindCount])[(int)point.Kind] = buffer;
            outputs[name] = buffer.AsMemory(0, length);
        }

        Embed(tokens, sequenceLength, ws.Residual);
        for (var layer = 0; layer <= lastLayer; layer++)
            RunLayer(_weights.Layers[layer], ws, targets[layer], edits[layer]);

        ReadOnlyMemory<float>? logits = null;
        if (request.Logits)
        {
            var buffer = HookBuffer("logits", tokenCount * _config.VocabSize);
            Normalize(ws.Residual, ws.Normed, _weights.FinalNorm, tokenCount);
            _weights.Unembedding.MultiplyTransposed(_gemm, ws.Normed, tokenCount, _config.ModelDim, buffer, _config.VocabSize, accumulate: false);
            logits = buffer.AsMemory(0, tokenCount * _config.VocabSize);
        }
        return new ForwardResult(outputs, logits);
    }

    public MlpWeights GetMlpWeights(int layer)
    {
        if ((uint)layer >= (uint)_config.LayerCount)
            throw new NeuronExplainerException($"layer {layer} is out of range; the model has {_config.LayerCount} layers (0-{_config.LayerCount - 1})");
        var weights = _weights.Layers[layer];
        // The output projection is stored [d_model, d_mlp]; callers want one row per neuron. The copy is not cached:
        // at GPT-2 XL's size all layers' copies would be 2 GB held for good, and callers need one layer at a time.
        // bf16 matrices are widened into fresh copies for the same reason.
        var outByNeuron = NeuralOps.Transpose<float>(weights.MlpOut.ToSingle(), _config.ModelDim, _config.MlpDim);
        ReadOnlyMemory<float>? linear = weights.MlpUp is { } up ? up.ToSingle() : default(ReadOnlyMemory<float>?);
        return new MlpWeights(weights.MlpIn.ToSingle(), linear, outByNeuron, weights.MlpNorm.Weight);
    }

    public ReadOnlyMemory<float> GetAttentionOutWeights(int layer)
    {
        if ((uint)layer >= (uint)_config.LayerCount)
            throw new NeuronExplainerException($"layer {layer} is out of range; the model has {_config.LayerCount} layers (0-{_config.LayerCount - 1})");
        return _weights.Layers[layer].AttentionOut.ToSingle();
    }

    public (ReadOnlyMemory<float> Embedding, ReadOnlyMemory<float> Unembedding, ReadOnlyMemory<float> FinalNormGain) GetTokenMatrices()
    {
        var embedding = _weights.Embedding.ToSingle();
        var unembedding = ReferenceEquals(_weights.Unembedding, _weights.Embedding) ? embedding : _weights.Unembedding.ToSingle();
        return (embedding, unembedding, _weights.FinalNorm.Weight);
    }

    public void ReleaseBuffers()
    {
        _workspace = null;
        _hookBuffers.Clear();
    }

    public void Dispose() => ReleaseBuffers();

    private void Embed(ReadOnlySpan<int> tokens, int seq, float[] residual)
    {
        var d = _config.ModelDim;
        for (var t = 0; t < tokens.Length; t++)
        {
            var row = residual.AsSpan(t * d, d);
            _weights.Embedding.CopyTo(tokens[t] * d, row);
            if (_weights.PositionEmbedding is { } positions)
                System.Numerics.Tensors.TensorPrimitives.Add(row, positions.AsSpan(t % seq * d, d), row);
        }
    }

    private static readonly int HookKindCount = Enum.GetValues<HookKind>().Length;

    /// <param name="hooks">The buffers of the requested hooks by <see cref="HookKind"/>, or null when none is; a hook not requested costs nothing.</param>
    /// <param name="edits">The patches by <see cref="HookKind"/>, or null when none is; each runs before its hook is read.</param>
    private void RunLayer(LayerWeights layer, Workspace ws, float[]?[]? hooks, HookEdit?[]? edits)
    {
        int d = _config.ModelDim, tokens = ws.Batch * ws.Seq;
        float[]? Target(HookKind kind) => hooks?[(int)kind];
        HookEdit? Edit(HookKind kind) => edits?[(int)kind];
        // The hook point on a buffer the pass goes on with: patched in place, then copied out when read.
        void At(float[] values, int width, HookKind kind)
        {
            Edit(kind)?.Invoke(values.AsSpan(0, tokens * width), ws.Batch, ws.Seq, width);
            if (Target(kind) is { } target) values.AsSpan(0, tokens * width).CopyTo(target);
        }

        At(ws.Residual, d, HookKind.ResidPre);
        Normalize(ws.Residual, ws.Normed, layer.AttentionNorm, tokens);
        Linear(ws.Normed, tokens, d, layer.Qkv, layer.QkvBias, ws.Qkv, _config.QkvDim);
        if (_ropeCos is not null) ApplyRope(ws);
        Attention(ws, Target(HookKind.AttentionPattern) ?? ws.Scores);
        At(ws.Attention, _config.QueryDim, HookKind.AttnZ);
        AddToResidual(ws.Attention, tokens, _config.QueryDim, layer.AttentionOut, layer.AttentionOutBias, ws,
            Target(HookKind.AttnOut), Edit(HookKind.AttnOut));

        Normalize(ws.Residual, ws.Normed, layer.MlpNorm, tokens);
        var mlp = Target(HookKind.MlpPost) ?? ws.Mlp;
        Linear(ws.Normed, tokens, d, layer.MlpIn, layer.MlpInBias, mlp, _config.MlpDim);
        var hidden = tokens * _config.MlpDim;
        if (layer.MlpUp is { } up)
        {
            Linear(ws.Normed, tokens, d, up, null, ws.Up, _config.MlpDim);
            ParallelSplit(hidden, (start, length) => NeuralOps.SiluMultiply(mlp.AsSpan(start, length), ws.Up.AsSpan(start, length)));
        }
        else
        {
            ParallelSplit(hidden, (start, length) => Activate(mlp.AsSpan(start, length)));
        }
        Edit(HookKind.MlpPost)?.Invoke(mlp.AsSpan(0, hidden), ws.Batch, ws.Seq, _config.MlpDim);
        AddToResidual(mlp, tokens, _config.MlpDim, layer.MlpOut, layer.MlpOutBias, ws, Target(HookKind.MlpOut), Edit(HookKind.MlpOut));
        At(ws.Residual, d, HookKind.ResidPost);
    }

    /// <summary>
    /// residual += input · Wᵀ + bias, the add fused into the product. When <paramref name="output"/> (hook_attn_out or
    /// hook_mlp_out) is read, the term is also computed into it apart; when <paramref name="edit"/> patches it, the term is
    /// computed into the output (or scratch), edited, and then added. The scratch is <c>ws.Normed</c>, free at both
    /// call sites (the QKV and MLP input products have read it).
    /// </summary>
    private void AddToResidual(float[] input, int tokens, int inDim, WeightMatrix weight, float[]? bias, Workspace ws, float[]? output, HookEdit? edit)
    {
        var residual = ws.Residual;
        if (edit is null)
        {
            // The residual stream takes the term through the fused product whether or not the hook is read, so reading
            // hook_attn_out or hook_mlp_out never changes (by rounding) what later hooks see; the read copy costs its own product.
            Project(input, tokens, inDim, weight, bias, residual);
            if (output is not null) Linear(input, tokens, inDim, weight, bias, output, _config.ModelDim);
            return;
        }
        var d = _config.ModelDim;
        var term = output ?? ws.Normed;
        Linear(input, tokens, inDim, weight, bias, term, d);
        edit?.Invoke(term.AsSpan(0, tokens * d), ws.Batch, ws.Seq, d);
        var sum = residual.AsSpan(0, tokens * d);
        System.Numerics.Tensors.TensorPrimitives.Add(sum, term.AsSpan(0, tokens * d), sum);
    }

    private void Activate(Span<float> x)
    {
        switch (_config.Activation)
        {
            case MlpActivation.GeluNew: NeuralOps.GeluNew(x); break;
            case MlpActivation.Relu: NeuralOps.Relu(x); break;
            case MlpActivation.Silu: NeuralOps.Silu(x); break;
        }
    }

    private void Normalize(float[] x, float[] y, NormWeights norm, int tokens)
    {
        var d = _config.ModelDim;
        ParallelSplit(tokens, (start, count) =>
        {
            var src = x.AsSpan(start * d, count * d);
            var dst = y.AsSpan(start * d, count * d);
            if (_config.Norm == NormKind.LayerNorm) NeuralOps.LayerNorm(src, dst, norm.Weight, norm.Bias, _config.NormEps);
            else NeuralOps.RmsNorm(src, dst, norm.Weight, _config.NormEps);
        }, minimumPerWorker: 64);
    }

    /// <summary>output[tokens, outDim] = input · Wᵀ + bias.</summary>
    private void Linear(float[] input, int tokens, int inDim, WeightMatrix weight, float[]? bias, float[] output, int outDim)
    {
        if (bias is not null)
            for (var t = 0; t < tokens; t++) bias.CopyTo(output.AsSpan(t * outDim, outDim));
        weight.MultiplyTransposed(_gemm, input, tokens, inDim, output, outDim, accumulate: bias is not null);
    }

    /// <summary>residual += input · Wᵀ + bias: the residual add is fused into the product.</summary>
    private void Project(float[] input, int tokens, int inDim, WeightMatrix weight, float[]? bias, float[] residual)
    {
        var d = _config.ModelDim;
        if (bias is not null)
            for (var t = 0; t < tokens; t++)
            {
                var row = residual.AsSpan(t * d, d);
                System.Numerics.Tensors.TensorPrimitives.Add(row, bias, row);
            }
        weight.MultiplyTransposed(_gemm, input, tokens, inDim, residual, d, accumulate: true);
    }

    private void ApplyRope(Workspace ws)
    {
        int half = _config.HeadDim / 2, qkvDim = _config.QkvDim;
        for (var t = 0; t < ws.Batch * ws.Seq; t++)
        {
            var position = t % ws.Seq;
            var cos = _ropeCos.AsSpan(position * half, half);
            var sin = _ropeSin.AsSpan(position * half, half);
            var row = ws.Qkv.AsSpan(t * qkvDim, _config.QueryDim + _config.KvDim);
            NeuralOps.RotateHalf(row[.._config.QueryDim], _config.HeadCount, _config.HeadDim, cos, sin);
            NeuralOps.RotateHalf(row[_config.QueryDim..], _config.KvHeadCount, _config.HeadDim, cos, sin);
        }
    }

    private void Attention(Workspace ws, float[] scores)
    {
        int seq = ws.Seq, heads = _config.HeadCount, headDim = _config.HeadDim, qkvDim = _config.QkvDim;
        int queryDim = _config.QueryDim, kvDim = _config.KvDim, groupSize = heads / _config.KvHeadCount;
        var scale = 1f / MathF.Sqrt(headDim);
        var qkv = ws.Qkv;
        var output = ws.Attention;
        Parallel.For(0, ws.Batch * heads, AttentionParallelism, item =>
        {
            int window = item / heads, head = item % heads, kvHead = head / groupSize;
            var windowStart = window * seq * qkvDim;
            var block = scores.AsSpan(item * seq * seq, seq * seq);
            var keys = qkv.AsSpan(windowStart + queryDim + kvHead * headDim);
            var values = qkv.AsSpan(windowStart + queryDim + kvDim + kvHead * headDim);
            _attentionGemm.Multiply(false, true, seq, seq, headDim, qkv.AsSpan(windowStart + head * headDim), qkvDim, keys, qkvDim, block, seq, accumulate: false);
            NeuralOps.CausalSoftmax(block, seq, scale);
            _attentionGemm.Multiply(false, false, seq, headDim, seq, block, seq, values, qkvDim,
                output.AsSpan(window * seq * queryDim + head * headDim), queryDim, accumulate: false);
        });
    }

    private float[] HookBuffer(string name, int length)
    {
        if (_hookBuffers.TryGetValue(name, out var buffer) && buffer.Length >= length) return buffer;
        return _hookBuffers[name] = GC.AllocateUninitializedArray<float>(length);
    }

    /// <summary>Splits [0, count) into one contiguous range per core when there is enough work to pay for it.</summary>
    private static void ParallelSplit(int count, Action<int, int> body, int minimumPerWorker = 16384)
    {
        var workers = Math.Clamp(count / minimumPerWorker, 1, Environment.ProcessorCount);
        if (workers == 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, workers, part =>
        {
            var start = (int)((long)count * part / workers);
            var end = (int)((long)count * (part + 1) / workers);
            body(start, end - start);
        });
    }

    private static (float[] Cos, float[] Sin) RopeTables(TransformerConfig config)
    {
        var half = config.HeadDim / 2;
        var cos = new float[config.MaxContext * half];
        var sin = new float[config.MaxContext * half];
        for (var position = 0; position < config.MaxContext; position++)
        for (var j = 0; j < half; j++)
        {
            var angle = position * Math.Pow(config.RopeTheta, -2.0 * j / config.HeadDim);
            cos[position * half + j] = (float)Math.Cos(angle);
            sin[position * half + j] = (float)Math.Sin(angle);
        }
        return (cos, sin);
    }

    /// <summary>Work buffers, reused by every call whose batch shape fits (e.g. a smaller last batch).</summary>
    private sealed class Workspace(TransformerConfig config, int batch, int seq)
    {
        /// <summary>Shape of the current call.</summary>
        public int Batch { get; set; } = batch;
        public int Seq { get; set; } = seq;
        public float[] Residual { get; } = new float[batch * seq * config.ModelDim];
        public float[] Normed { get; } = new float[batch * seq * config.ModelDim];
        public float[] Qkv { get; } = new float[batch * seq * config.QkvDim];
        public float[] Attention { get; } = new float[batch * seq * config.QueryDim];
        public float[] Scores { get; } = new float[batch * config.HeadCount * seq * seq];
        public float[] Mlp { get; } = new float[batch * seq * config.MlpDim];
        public float[] Up { get; } = config.GatedMlp ? new float[batch * seq * config.MlpDim] : [];

        public bool Fits(int batchSize, int sequenceLength) =>
            (long)batchSize * sequenceLength * config.ModelDim <= Residual.Length
            && (long)batchSize * config.HeadCount * sequenceLength * sequenceLength <= Scores.Length;
    }
}
