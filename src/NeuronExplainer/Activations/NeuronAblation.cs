using NeuronExplainer.Models;
using NeuronExplainer.Models.Kernels;
using NeuronExplainer.Models.Sae;

namespace NeuronExplainer.Activations;

/// <summary>
/// Runs the model with one unit ablated, on excerpts of its record, and measures what changes: the mean next-token
/// loss, the logits it raises and lowers where it fires (at least half the excerpt's largest activation; clean minus
/// zero-ablated, averaged), and its direct logit effect on the actual next token (the activation times its output
/// direction read through the final norm, its scale frozen at the clean pass, and the unembedding).
/// An MLP neuron is held at a value a (zero, or its corpus mean) through a patch of <c>blocks.L.mlp.hook_post</c>; its
/// output direction is its row of the MLP's output projection. An SAE latent i is ablated at the hook x its SAE reads
/// by replacing x with <c>x - (f_i(x) - a) · W_dec[i]</c> at every token: its decoder contribution is set to a's while
/// the SAE's reconstruction error stays in place; its output direction is W_dec[i] (none for an <c>attn.hook_z</c>
/// SAE, whose decoder writes head space, so no direct logit effect).
/// Excerpts are given as their token strings and mapped back to ids; the engine's activations (the latent's, from
/// the SAE's encoder) must reproduce the stored ones before anything is measured.
/// One measurement at a time (the engine runs one forward pass at a time).
/// </summary>
/// <param name="saes">The SAE an SAE latent's id names (null where unknown); latents fail without it.</param>
public sealed class NeuronAblation(Transformer model, Func<string, SparseAutoencoder?>? saes = null)
{
    const int TokensShown = 10;

    readonly Lazy<Dictionary<string, int>> ids = new(() => TokenIds(model.Tokenizer));
    readonly Dictionary<string, AblatedSae?> loaded = new(StringComparer.Ordinal);
    readonly Lock gate = new();

    public string ModelName => model.Info.Name;

    public string TokenString(int id) => model.Tokenizer.TokenString(id);

    /// <summary>The effects of ablating <paramref name="record"/>'s neuron on <paramref name="excerpts"/> (BOS put in front when the model wants it).</summary>
    public AblationEffect Measure(NeuronRecord record, IReadOnlyList<ActivationRecord> excerpts, CancellationToken cancellationToken)
    {
        var windows = new List<int[]>(excerpts.Count);
        foreach (var excerpt in excerpts)
        {
            var missing = excerpt.Tokens.FirstOrDefault(t => !ids.Value.ContainsKey(t));
            if (missing is not null)
                return AblationEffect.Failed($"token {System.Text.Json.JsonSerializer.Serialize(missing)} of an excerpt is not a token of {model.Info.Name}; is this the store's model?");
            windows.Add([.. (model.Info.PrependsBos ? [model.Tokenizer.BosId!.Value] : Array.Empty<int>()), .. excerpt.Tokens.Select(t => ids.Value[t])]);
        }
        lock (gate)
        {
            AblatedSae? sae = null;
            if (record.NeuronId.Kind == UnitKind.SaeLatent)
            {
                string id = record.NeuronId.Sae!;
                if (!loaded.TryGetValue(id, out sae))
                    loaded[id] = sae = saes?.Invoke(id) is { } found ? new AblatedSae(found, found.ReadDecoder()) : null;
                if (sae is null) return AblationEffect.Failed($"the files of SAE {id} are not known (the store's collection names another SAE or none), so its latents cannot be ablated");
            }
            return Measure(model, record, excerpts, windows, cancellationToken, sae);
        }
    }

    /// <summary>
    /// Token id by display string. A string shown by several ids (a sentencepiece byte-fallback token and the piece
    /// itself) goes to the id the tokenizer encodes it as when that is one token, else to the last of them (byte
    /// tokens come first in such vocabularies). A wrong pick cannot pass unseen: the excerpt's activations are
    /// checked against the stored ones before anything is measured.
    /// </summary>
    static Dictionary<string, int> TokenIds(ITokenizer tokenizer)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var ambiguous = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            string text = tokenizer.TokenString(id);
            if (!ids.TryAdd(text, id)) { ambiguous.Add(text); ids[text] = id; }
        }
        foreach (string text in ambiguous)
            if (tokenizer.Encode(text) is [int only] && tokenizer.TokenString(only) == text) ids[text] = only;
        return ids;
    }

    /// <summary>
    /// The ablation effects over the excerpts, each run alone (clean, zero, mean), or the problem found;
    /// <paramref name="sae"/> is the SAE of an SAE latent with its decoder.
    /// </summary>
    internal static AblationEffect Measure(Transformer model, NeuronRecord record, IReadOnlyList<ActivationRecord> excerpts, IReadOnlyList<int[]> windows,
        CancellationToken cancellationToken, AblatedSae? sae = null)
    {
        var config = model.Config;
        int vocab = config.VocabSize, d = config.ModelDim;
        var unit = sae is null ? NeuronUnit(model, record.NeuronId) : LatentUnit(model, record.NeuronId, sae);
        if (unit.Problem is { } problem) return AblationEffect.Failed(problem);
        string hook = unit.Hook, last = ForwardRequest.ResidPost(config.LayerCount - 1);
        var (_, unembedding, finalGain) = model.GetTokenMatrices();
        double zeroSum = 0, meanSum = 0, directSum = 0;
        int predictions = 0, firing = 0, direct = 0;
        var logitChange = new double[vocab];
        foreach (var (excerpt, window) in excerpts.Zip(windows))
        {
            cancellationToken.ThrowIfCancellationRequested();
            int seq = window.Length, offset = seq - excerpt.Tokens.Count;
            var clean = model.Forward(window, 1, seq, new ForwardRequest([hook, last], Logits: true));
            var activations = unit.Read!(clean.Hook(hook), seq);
            double largest = excerpt.Activations.Max(Math.Abs), error = 0;
            for (int i = 0; i < excerpt.Tokens.Count; i++) error = Math.Max(error, Math.Abs(activations[offset + i] - excerpt.Activations[i]));
            if (error > 1e-3 * Math.Max(1, largest))
                return AblationEffect.Failed($"the engine's activations on a valid top excerpt differ from the stored ones by up to {error:g3}: another model than the store's, or a token string that several token ids display (the store keeps strings, not ids) mapped to another id than was collected");
            var cleanLogits = clean.Logits!.Value.ToArray();
            var finalResidual = clean.Hook(last).ToArray();
            var cleanLoss = NextTokenLosses(cleanLogits, window, vocab);
            var zeroLoss = NextTokenLosses(Ablated(model, window, hook, unit.Ablate!(activations, 0), out var zeroLogits), window, vocab);
            double firingThreshold = 0.5 * excerpt.MaxActivation;
            for (int row = 0; row < seq; row++)
            {
                if (row >= offset && excerpt.Activations[row - offset] > 0 && excerpt.Activations[row - offset] >= firingThreshold)
                {
                    firing++;
                    for (int t = 0; t < vocab; t++) logitChange[t] += cleanLogits[row * vocab + t] - zeroLogits[row * vocab + t];
                    if (row + 1 < seq && unit.Direction is { } direction)
                    {
                        directSum += activations[row] * DirectLogit(config, direction, finalResidual.AsSpan(row * d, d), finalGain.Span, unembedding.Span.Slice(window[row + 1] * d, d));
                        direct++;
                    }
                }
            }
            for (int p = 0; p < cleanLoss.Length; p++) zeroSum += zeroLoss[p] - cleanLoss[p];
            if (record.Mean is double mean)
            {
                var meanLoss = NextTokenLosses(Ablated(model, window, hook, unit.Ablate!(activations, (float)mean), out _), window, vocab);
                for (int p = 0; p < cleanLoss.Length; p++) meanSum += meanLoss[p] - cleanLoss[p];
            }
            predictions += cleanLoss.Length;
        }
        if (predictions == 0) return AblationEffect.Failed("the valid top excerpts leave no next token to predict");
        var ranked = Enumerable.Range(0, vocab).Select(t => (Id: t, Change: firing == 0 ? 0 : logitChange[t] / firing)).OrderByDescending(x => x.Change).ThenBy(x => x.Id).ToList();
        return new AblationEffect(null, predictions, firing, zeroSum / predictions, record.Mean is null ? null : meanSum / predictions,
            direct == 0 ? null : directSum / direct,
            firing == 0 ? [] : [.. ranked.Take(TokensShown)], firing == 0 ? [] : [.. ranked.AsEnumerable().Reverse().Take(TokensShown)]);
    }

    /// <summary>
    /// How a unit is ablated: the hook it lives at, its activation per row of that hook (<see cref="Read"/>), the
    /// patch that ablates it to a value given its clean activations (<see cref="Ablate"/>), its output direction in the
    /// residual stream (null when it has none there), or why it cannot be ablated.
    /// </summary>
    sealed record AblatedUnit(string Hook, Func<ReadOnlySpan<float>, int, double[]>? Read, Func<double[], float, HookEdit>? Ablate, float[]? Direction, string? Problem = null)
    {
        public static AblatedUnit Failed(string problem) => new("", null, null, null, problem);
    }

    static AblatedUnit NeuronUnit(Transformer model, NeuronId id)
    {
        var config = model.Config;
        int layer = id.LayerIndex, neuron = id.NeuronIndex, d = config.ModelDim, width = config.MlpDim;
        if (id.Kind != UnitKind.Neuron)
            return AblatedUnit.Failed($"{id} is neither an MLP neuron nor an SAE latent; ablating {NeuronId.Prefix(id.Kind)} units is not supported yet");
        if (layer >= config.LayerCount || neuron >= width)
            return AblatedUnit.Failed($"neuron {id} is not in {model.Info.Name} ({config.LayerCount} layers of {width} neurons)");
        return new AblatedUnit(ForwardRequest.MlpPost(layer),
            (values, rows) => Column(values, rows, width, neuron),
            (_, value) => (values, batch, seq, w) =>
            {
                for (int r = 0; r < batch * seq; r++) values[r * w + neuron] = value;
            },
            model.GetMlpWeights(layer).Out.Span.Slice(neuron * d, d).ToArray());
    }

    static AblatedUnit LatentUnit(Transformer model, NeuronId id, AblatedSae sae)
    {
        var c = sae.Sae.Config;
        int latent = id.NeuronIndex, m = c.LatentCount, dIn = c.InputDim;
        if (latent >= m) return AblatedUnit.Failed($"latent {id} is not in SAE {id.Sae} ({m} latents, read from {c.Source})");
        try
        {
            sae.Sae.CheckFits(model.Info);
        }
        catch (NeuronExplainerException e)
        {
            return AblatedUnit.Failed(e.Message);
        }
        var direction = sae.Decoder.AsSpan(latent * dIn, dIn).ToArray();
        return new AblatedUnit(c.Hook,
            (values, rows) =>
            {
                var latents = new float[rows * m];
                sae.Sae.Encode(values, rows, latents, new float[rows * dIn], GemmBackends.Default);
                return Column(latents, rows, m, latent);
            },
            // The patched pass sees the clean x at this hook (nothing before it is patched), so f_i(x) is the clean activation.
            (activations, value) => (values, batch, seq, width) =>
            {
                for (int r = 0; r < batch * seq; r++)
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(direction, (float)(value - activations[r]), values.Slice(r * width, width), values.Slice(r * width, width));
            },
            sae.Sae.DecodesIntoResidualStream ? direction : null);
    }

    static double[] Column(ReadOnlySpan<float> values, int rows, int width, int column)
    {
        var result = new double[rows];
        for (int r = 0; r < rows; r++) result[r] = values[r * width + column];
        return result;
    }

    /// <summary>Logits with <paramref name="edit"/> applied at <paramref name="hook"/>.</summary>
    static float[] Ablated(Transformer model, int[] window, string hook, HookEdit edit, out float[] logits)
    {
        logits = model.Forward(window, 1, window.Length, new ForwardRequest([], Logits: true, Patches: [new HookPatch(hook, edit)])).Logits!.Value.ToArray();
        return logits;
    }

    /// <summary>Cross-entropy of each next token of the window (row r predicts token r + 1), in nats, in double precision.</summary>
    internal static double[] NextTokenLosses(float[] logits, int[] window, int vocab)
    {
        var losses = new double[window.Length - 1];
        for (int r = 0; r < losses.Length; r++)
        {
            var row = logits.AsSpan(r * vocab, vocab);
            double max = double.NegativeInfinity, sum = 0;
            foreach (float x in row) max = Math.Max(max, x);
            foreach (float x in row) sum += Math.Exp(x - max);
            losses[r] = max + Math.Log(sum) - row[window[r + 1]];
        }
        return losses;
    }

    /// <summary>
    /// The logit of one token from the unit's output direction alone, through the final norm with the clean pass's scale:
    /// RMSNorm divides by the residual's root mean square, LayerNorm also removes the row's mean first.
    /// </summary>
    static double DirectLogit(TransformerConfig config, float[] outRow, ReadOnlySpan<float> residual, ReadOnlySpan<float> gain, ReadOnlySpan<float> unembedding)
    {
        int d = outRow.Length;
        double residualMean = 0, outMean = 0;
        bool layerNorm = config.Norm == NormKind.LayerNorm;
        if (layerNorm)
        {
            for (int i = 0; i < d; i++) { residualMean += residual[i]; outMean += outRow[i]; }
            residualMean /= d;
            outMean /= d;
        }
        double squares = 0;
        for (int i = 0; i < d; i++) squares += (residual[i] - residualMean) * (residual[i] - residualMean);
        double scale = Math.Sqrt(squares / d + config.NormEps), logit = 0;
        for (int i = 0; i < d; i++) logit += (outRow[i] - outMean) * gain[i] * unembedding[i];
        return logit / scale;
    }
}

/// <summary>What <see cref="NeuronAblation.Measure(NeuronRecord, IReadOnlyList{ActivationRecord}, CancellationToken)"/> found: mean loss changes (nats per prediction), the firing positions' logit effects, or a problem.</summary>
public sealed record AblationEffect(string? Problem, int Predictions, int FiringPositions, double ZeroLossChange, double? MeanLossChange,
    double? DirectLogitEffect, IReadOnlyList<(int Id, double Change)> Promoted, IReadOnlyList<(int Id, double Change)> Suppressed)
{
    public static AblationEffect Failed(string problem) => new(problem, 0, 0, 0, null, null, [], []);
}

/// <summary>An SAE whose latents are ablated, with its decoder W_dec [d_sae, d_in] read once.</summary>
internal sealed record AblatedSae(SparseAutoencoder Sae, float[] Decoder);
