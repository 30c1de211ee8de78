using System.Text.Json;

namespace NeuronExplainer.Models.Checkpoints;

/// <summary>
/// Loads a Hugging Face model directory (<c>config.json</c> + safetensors) into <see cref="TransformerWeights"/>, the
/// weight matrices as float32 or bf16 (each converted as it is read, so float32 copies of a bf16 model never pile up).
/// GPT-2 (<c>GPT2LMHeadModel</c>) and the Llama layout (<c>LlamaForCausalLM</c>, and Mistral/Qwen2 configs
/// whose tensors are laid out the same way) are supported.
/// </summary>
public static class HfCheckpointLoader
{
    public const string ConfigFile = "config.json";

    private static readonly string[] LlamaArchitectures = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"];

    public static TransformerWeights Load(string directory, WeightDType dtype = WeightDType.Float32)
    {
        var configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) throw new NeuronExplainerException($"{directory}: no {ConfigFile}");
        using var config = ParseJson(configPath);
        var json = new ConfigReader(configPath, config.RootElement);
        var architecture = json.Architecture();
        using var checkpoint = SafeTensorsCheckpoint.Open(directory);
        if (architecture == "GPT2LMHeadModel") return LoadGpt2(json, checkpoint, dtype);
        if (LlamaArchitectures.Contains(architecture)) return LoadLlama(json, architecture, checkpoint, dtype);
        throw new NeuronExplainerException($"{configPath}: architecture '{architecture}' is not supported; expected GPT2LMHeadModel or {string.Join(", ", LlamaArchitectures)}");
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new NeuronExplainerException($"{path}: not valid JSON ({e.Message})");
        }
    }

    private static TransformerWeights LoadGpt2(ConfigReader json, SafeTensorsCheckpoint checkpoint, WeightDType dtype)
    {
        var d = json.Int("n_embd");
        var activation = json.String("activation_function", "gelu_new") switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => MlpActivation.GeluNew,
            "relu" => MlpActivation.Relu,
            "silu" or "swish" => MlpActivation.Silu,
            var other => throw json.Error("activation_function", $"'{other}' is not supported; expected gelu_new, gelu_pytorch_tanh, relu or silu"),
        };
        var heads = json.Int("n_head");
        if (d % heads != 0) throw json.Error("n_head", $"{heads} does not divide n_embd {d}");
        var config = new TransformerConfig("GPT2LMHeadModel", json.Int("n_layer"), d, json.OptionalInt("n_inner") ?? 4 * d,
            heads, heads, d / heads, json.Int("vocab_size"), json.OptionalInt("n_positions") ?? json.Int("n_ctx"),
            NormKind.LayerNorm, json.Float("layer_norm_epsilon", 1e-5f), activation, GatedMlp: false,
            LearnedPositions: true, RopeTheta: 0, PrependsBos: false);
        config.Validate(json.Path);

        // Hub GPT-2 files name tensors without the "transformer." prefix that save_pretrained writes.
        var prefix = checkpoint.Contains("transformer.wte.weight") ? "transformer." : "";
        int mlp = config.MlpDim, vocab = config.VocabSize;
        NormWeights Norm(string name) => new(checkpoint.Read($"{prefix}{name}.weight", d), checkpoint.Read($"{prefix}{name}.bias", d));
        // Conv1D stores [in, out]; the engine multiplies by [out, in].
        WeightMatrix Conv1D(string name, int inDim, int outDim) => checkpoint.ReadMatrix($"{prefix}{name}.weight", dtype, inDim, outDim).Transpose(inDim, outDim);
        float[] Bias(string name, int length) => checkpoint.Read($"{prefix}{name}.bias", length);

        var layers = new List<LayerWeights>();
        for (var l = 0; l < config.LayerCount; l++)
        {
            var h = $"h.{l}";
            layers.Add(new LayerWeights(
                Norm($"{h}.ln_1"),
                Conv1D($"{h}.attn.c_attn", d, 3 * d), Bias($"{h}.attn.c_attn", 3 * d),
                Conv1D($"{h}.attn.c_proj", d, d), Bias($"{h}.attn.c_proj", d),
                Norm($"{h}.ln_2"),
                Conv1D($"{h}.mlp.c_fc", d, mlp), Bias($"{h}.mlp.c_fc", mlp),
                null,
                Conv1D($"{h}.mlp.c_proj", mlp, d), Bias($"{h}.mlp.c_proj", d)));
        }
        var embedding = checkpoint.ReadMatrix($"{prefix}wte.weight", dtype, vocab, d);
        return new TransformerWeights(config, embedding, checkpoint.Read($"{prefix}wpe.weight", config.MaxContext, d),
            layers, Norm("ln_f"), embedding);
    }

    private static TransformerWeights LoadLlama(ConfigReader json, string architecture, SafeTensorsCheckpoint checkpoint, WeightDType dtype)
    {
        var d = json.Int("hidden_size");
        var heads = json.Int("num_attention_heads");
        var act = json.String("hidden_act", "silu");
        if (act is not ("silu" or "swish")) throw json.Error("hidden_act", $"'{act}' is not supported for the Llama layout; expected silu");
        if (json.IsPresent("rope_scaling"))
            throw json.Error("rope_scaling", "rotary scaling is not supported; only plain RoPE (rope_scaling null) models load");
        var context = json.Int("max_position_embeddings");
        // Mistral-style sliding windows are equivalent to full attention for windows no longer than the slide.
        if (json.OptionalInt("sliding_window") is { } window && json.Bool("use_sliding_window", architecture == "MistralForCausalLM"))
            context = Math.Min(context, window);
        var config = new TransformerConfig(architecture, json.Int("num_hidden_layers"), d, json.Int("intermediate_size"),
            heads, json.OptionalInt("num_key_value_heads") ?? heads, json.OptionalInt("head_dim") ?? d / heads,
            json.Int("vocab_size"), context, NormKind.RmsNorm, json.Float("rms_norm_eps", 1e-6f), MlpActivation.Silu,
            GatedMlp: true, LearnedPositions: false, json.Float("rope_theta", 10000f), PrependsBos: architecture != "Qwen2ForCausalLM");
        config.Validate(json.Path);

        int mlp = config.MlpDim, vocab = config.VocabSize, q = config.QueryDim, kv = config.KvDim;
        NormWeights Norm(string name) => new(checkpoint.Read(name, d), null);
        WeightMatrix Matrix(string name, long rows, long cols) => checkpoint.ReadMatrix(name, dtype, rows, cols);
        var layers = new List<LayerWeights>();
        for (var l = 0; l < config.LayerCount; l++)
        {
            var p = $"model.layers.{l}";
            var qkv = WeightMatrix.Concat(Matrix($"{p}.self_attn.q_proj.weight", q, d), Matrix($"{p}.self_attn.k_proj.weight", kv, d), Matrix($"{p}.self_attn.v_proj.weight", kv, d));
            // Qwen2 (and attention_bias Llamas) carry q/k/v biases; all three or none.
            var qBias = checkpoint.ReadOptional($"{p}.self_attn.q_proj.bias", q);
            var qkvBias = qBias is null ? null : WeightArrays.Concat(qBias, checkpoint.Read($"{p}.self_attn.k_proj.bias", kv), checkpoint.Read($"{p}.self_attn.v_proj.bias", kv));
            layers.Add(new LayerWeights(
                Norm($"{p}.input_layernorm.weight"),
                qkv, qkvBias,
                Matrix($"{p}.self_attn.o_proj.weight", d, q), checkpoint.ReadOptional($"{p}.self_attn.o_proj.bias", d),
                Norm($"{p}.post_attention_layernorm.weight"),
                Matrix($"{p}.mlp.gate_proj.weight", mlp, d), checkpoint.ReadOptional($"{p}.mlp.gate_proj.bias", mlp),
                Matrix($"{p}.mlp.up_proj.weight", mlp, d),
                Matrix($"{p}.mlp.down_proj.weight", d, mlp), checkpoint.ReadOptional($"{p}.mlp.down_proj.bias", d)));
        }
        var embedding = Matrix("model.embed_tokens.weight", vocab, d);
        var tied = json.Bool("tie_word_embeddings", false);
        return new TransformerWeights(config, embedding, null, layers, Norm("model.norm.weight"),
            tied ? embedding : Matrix("lm_head.weight", vocab, d));
    }

    /// <summary>Typed access to config.json fields with errors naming the file and field.</summary>
    private sealed class ConfigReader(string path, JsonElement root)
    {
        public string Path { get; } = path;

        public NeuronExplainerException Error(string field, string what) => new($"{Path}: {field}: {what}");

        public bool IsPresent(string field) => root.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null;

        public string Architecture()
        {
            if (root.TryGetProperty("architectures", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0)
                return list[0].GetString() ?? "";
            return String("model_type", "") switch
            {
                "gpt2" => "GPT2LMHeadModel",
                "llama" => "LlamaForCausalLM",
                "mistral" => "MistralForCausalLM",
                "qwen2" => "Qwen2ForCausalLM",
                var other => throw Error("architectures", $"missing, and model_type '{other}' is not one this engine knows"),
            };
        }

        public int Int(string field) => OptionalInt(field) ?? throw Error(field, "missing; expected an integer");

        public int? OptionalInt(string field)
        {
            if (!IsPresent(field)) return null;
            var value = root.GetProperty(field);
            return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n : throw Error(field, $"{value.GetRawText()} is not an integer");
        }

        public float Float(string field, float fallback)
        {
            if (!IsPresent(field)) return fallback;
            var value = root.GetProperty(field);
            return value.ValueKind == JsonValueKind.Number ? value.GetSingle() : throw Error(field, $"{value.GetRawText()} is not a number");
        }

        public bool Bool(string field, bool fallback)
        {
            if (!IsPresent(field)) return fallback;
            var value = root.GetProperty(field);
            return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : throw Error(field, $"{value.GetRawText()} is not true or false");
        }

        public string String(string field, string fallback)
        {
            if (!IsPresent(field)) return fallback;
            var value = root.GetProperty(field);
            return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Error(field, $"{value.GetRawText()} is not a string");
        }
    }
}
