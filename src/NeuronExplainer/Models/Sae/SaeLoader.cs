using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NeuronExplainer.Models.Checkpoints;

namespace NeuronExplainer.Models.Sae;

/// <summary>
/// Reads a sparse autoencoder from a folder in one of the two layouts the field publishes:
/// <list type="bullet">
/// <item>SAELens: <c>cfg.json</c> + <c>sae_weights.safetensors</c> (<c>W_enc</c> [d_in, d_sae], <c>b_enc</c>,
/// <c>W_dec</c> [d_sae, d_in], <c>b_dec</c>, <c>threshold</c> for JumpReLU). The hook is <c>hook_name</c> (SAELens 6:
/// <c>metadata.hook_name</c>; before 5: <c>hook_point</c>); the activation is <c>architecture</c> (standard, jumprelu,
/// topk with <c>k</c>) or, in releases before 6, <c>activation_fn</c>/<c>activation_fn_str</c> (relu, or topk with
/// <c>activation_fn_kwargs.k</c>).</item>
/// <item>sparsify: <c>cfg.json</c> (<c>d_in</c>, <c>num_latents</c> or <c>expansion_factor</c>, <c>k</c>) +
/// <c>sae.safetensors</c> (<c>encoder.weight</c> [d_sae, d_in], <c>encoder.bias</c>, <c>W_dec</c> [d_sae, d_in],
/// <c>b_dec</c>), TopK; the hook is named by the folder, the module sparsify hooked (<see cref="SparsifyHook"/>).</item>
/// </list>
/// </summary>
public static partial class SaeLoader
{
    public const string ConfigFile = "cfg.json";
    public const string SaeLensWeights = "sae_weights.safetensors";
    public const string SparsifyWeights = "sae.safetensors";

    /// <summary>Loads the SAE in <paramref name="directory"/>, telling the layout by its weights file.</summary>
    public static SparseAutoencoder Load(string directory)
    {
        if (!Directory.Exists(directory)) throw new NeuronExplainerException($"SAE '{directory}': no such directory");
        string config = Path.Combine(directory, ConfigFile);
        if (!File.Exists(config))
            throw new NeuronExplainerException($"SAE '{directory}': no {ConfigFile}; expected SAELens's ({ConfigFile} + {SaeLensWeights}) or sparsify's ({ConfigFile} + {SparsifyWeights}) layout");
        if (File.Exists(Path.Combine(directory, SaeLensWeights))) return LoadSaeLens(directory);
        if (File.Exists(Path.Combine(directory, SparsifyWeights))) return LoadSparsify(directory);
        throw new NeuronExplainerException($"SAE '{directory}': has {ConfigFile} but neither {SaeLensWeights} (SAELens) nor {SparsifyWeights} (sparsify)");
    }

    static SparseAutoencoder LoadSaeLens(string directory)
    {
        var cfg = new Config(Path.Combine(directory, ConfigFile));
        int dIn = cfg.PositiveInt("d_in"), dSae = cfg.PositiveInt("d_sae");
        var (hookField, hook) = cfg.FirstString("hook_name", "metadata.hook_name", "hook_point")
            ?? throw cfg.Error("hook_name", "is missing (also looked for metadata.hook_name and hook_point); expected a hook such as blocks.8.hook_resid_pre");
        foreach (var head in new[] { "hook_head_index", "metadata.hook_head_index", "hook_point_head_index" })
            if (cfg.Find(head) is { ValueKind: not JsonValueKind.Null })
                throw cfg.Error(head, "names one attention head; SAEs reading a single head are not supported (expected null)");

        var architecture = cfg.String("architecture") ?? "standard";
        var (activationField, activationName) = cfg.FirstString("activation_fn", "activation_fn_str") ?? ("activation_fn", "relu");
        SaeActivation activation;
        int k = 0;
        switch (architecture, activationName)
        {
            case ("standard", "relu"):
                activation = SaeActivation.Relu;
                break;
            case ("standard" or "topk", "topk"):
                activation = SaeActivation.TopK;
                k = cfg.Find("activation_fn_kwargs.k") is { } _ ? cfg.PositiveInt("activation_fn_kwargs.k") : cfg.PositiveInt("k");
                break;
            case ("topk", "relu"):
                activation = SaeActivation.TopK;
                k = cfg.PositiveInt("k");
                break;
            case ("jumprelu", "relu"):
                activation = SaeActivation.JumpRelu;
                break;
            case ("standard" or "topk" or "jumprelu", _):
                throw cfg.Error(activationField, $"is '{activationName}', an activation we do not know; expected relu or topk");
            default:
                throw cfg.Error("architecture", $"is '{architecture}', an architecture we do not know; expected standard, jumprelu or topk");
        }
        if (k > dSae) throw cfg.Error(cfg.Find("k") is null ? "activation_fn_kwargs.k" : "k", $"is {k}, more than the {dSae} latents (d_sae)");

        var norm = cfg.Find("normalize_activations") switch
        {
            null or { ValueKind: JsonValueKind.Null or JsonValueKind.False } => SaeInputNorm.None,
            { ValueKind: JsonValueKind.String } text => text.GetString() switch
            {
                "none" => SaeInputNorm.None,
                "constant_norm_rescale" => SaeInputNorm.ConstantNormRescale,
                "layer_norm" => SaeInputNorm.LayerNorm,
                "expected_average_only_in" => throw cfg.Error("normalize_activations",
                    "is 'expected_average_only_in', which scales inputs by a factor the SAE's files do not hold (SAELens folds it in from its pretrained directory); fold it into W_enc, b_dec first and set 'none'"),
                var other => throw cfg.Error("normalize_activations", $"is '{other}'; expected none, constant_norm_rescale or layer_norm"),
            },
            { ValueKind: JsonValueKind.True } => throw cfg.Error("normalize_activations",
                "is true (SAELens's older spelling of expected_average_only_in), which scales inputs by a factor the SAE's files do not hold; fold it in first"),
            var other => throw cfg.Error("normalize_activations", $"is {other.Value.GetRawText()}; expected a string"),
        };
        bool applyBDec = cfg.Bool("apply_b_dec_to_input") ?? true;
        bool rescale = activation == SaeActivation.TopK && (cfg.Bool("rescale_acts_by_decoder_norm") ?? false);

        var weights = ReadWeights(Path.Combine(directory, SaeLensWeights), "W_enc", [dIn, dSae], "b_enc", false, dSae, dIn,
            activation == SaeActivation.JumpRelu, rescale, applyBDec);
        return new SparseAutoencoder(new SaeConfig(SaeFormat.SaeLens, directory, hook, $"{Path.Combine(directory, ConfigFile)}: field '{hookField}'", dIn, dSae,
            activation, k, norm), weights);
    }

    static SparseAutoencoder LoadSparsify(string directory)
    {
        var cfg = new Config(Path.Combine(directory, ConfigFile));
        int dIn = cfg.PositiveInt("d_in");
        int latents = cfg.Find("num_latents") is { ValueKind: JsonValueKind.Number } n && n.TryGetInt32(out int count) && count > 0
            ? count
            : cfg.Find("expansion_factor") is not null
                ? checked(dIn * cfg.PositiveInt("expansion_factor"))
                : throw cfg.Error("num_latents", "is missing or 0 and there is no expansion_factor; expected the number of latents");
        int k = cfg.PositiveInt("k");
        if (k > latents) throw cfg.Error("k", $"is {k}, more than the {latents} latents");
        if (cfg.String("activation") is { } act && act != "topk")
            throw cfg.Error("activation", $"is '{act}', an activation we do not know; expected topk");
        if (cfg.Bool("transcode") == true)
            throw cfg.Error("transcode", "is true: this is a transcoder (it predicts a module's output from its input), not an SAE of one hook");
        string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        string hook = SparsifyHook(folder) ?? throw new NeuronExplainerException(
            $"SAE '{directory}': sparsify names the hook by the folder, and '{folder}' is not one we map; expected layers.N, layers.N.mlp, layers.N.self_attn (or GPT-2's h.N, h.N.mlp, h.N.attn)");

        var weights = ReadWeights(Path.Combine(directory, SparsifyWeights), "encoder.weight", [latents, dIn], "encoder.bias", true, latents, dIn,
            threshold: false, rescale: false, subtractDecoderBias: true);
        return new SparseAutoencoder(new SaeConfig(SaeFormat.Sparsify, directory, hook, $"SAE '{directory}': folder name '{folder}' (sparsify's module)", dIn, latents,
            SaeActivation.TopK, k, SaeInputNorm.None), weights);
    }

    /// <summary>
    /// The encoder tensors of either layout, checked against cfg.json's shapes: the encoder under its layout's names,
    /// <c>b_dec</c>, <c>threshold</c> when asked, and <c>W_dec</c> [d_sae, d_in] (checked now, read when asked for, and
    /// now only for <paramref name="rescale"/>'s row norms).
    /// </summary>
    static SaeWeights ReadWeights(string path, string encoderName, long[] encoderShape, string encoderBiasName, bool latentMajor, int dSae, int dIn,
        bool threshold, bool rescale, bool subtractDecoderBias)
    {
        float[] ReadDecoder()
        {
            using var weights = OpenWeights(path);
            return Read(weights, "W_dec", dSae, dIn);
        }
        using var file = OpenWeights(path);
        var encoder = Read(file, encoderName, encoderShape);
        var encoderBias = Read(file, encoderBiasName, dSae);
        var decoderBias = Read(file, "b_dec", dIn);
        Require(file, "W_dec", dSae, dIn);
        return new SaeWeights(encoder, latentMajor, encoderBias, subtractDecoderBias ? decoderBias : null, threshold ? Read(file, "threshold", dSae) : null,
            rescale ? RowNorms(ReadDecoder(), dIn) : null, ReadDecoder);
    }

    [GeneratedRegex(@"^(?:layers[._]|h\.)(\d{1,6})(\.mlp|\.self_attn|\.attn)?$", RegexOptions.CultureInvariant)]
    private static partial Regex SparsifyFolder();

    /// <summary>
    /// Our hook for a sparsify folder, which is named after the module whose output sparsify read: <c>layers.N</c>
    /// (Llama, also <c>layers_N</c>) or <c>h.N</c> (GPT-2) is block N's output, <c>blocks.N.hook_resid_post</c>;
    /// <c>.mlp</c> is <c>blocks.N.hook_mlp_out</c>; <c>.self_attn</c>/<c>.attn</c> is <c>blocks.N.hook_attn_out</c>.
    /// Null for a folder it does not map.
    /// </summary>
    public static string? SparsifyHook(string folder)
    {
        var match = SparsifyFolder().Match(folder);
        if (!match.Success) return null;
        string layer = match.Groups[1].Value;
        return match.Groups[2].Value switch
        {
            "" => $"blocks.{layer}.hook_resid_post",
            ".mlp" => $"blocks.{layer}.hook_mlp_out",
            _ => $"blocks.{layer}.hook_attn_out",
        };
    }

    static SafeTensorsFile OpenWeights(string path)
    {
        try
        {
            return SafeTensorsFile.Open(path);
        }
        catch (IOException e)
        {
            throw new NeuronExplainerException($"{path}: cannot be read ({e.Message})", e);
        }
    }

    static void Require(SafeTensorsFile file, string name, params long[] shape)
    {
        if (!file.Tensors.TryGetValue(name, out var info))
            throw new NeuronExplainerException($"{file.Path}: tensor '{name}' is missing; expected shape [{string.Join(", ", shape)}] (the file has: {string.Join(", ", file.Tensors.Keys.Order(StringComparer.Ordinal))})");
        if (!info.Shape.SequenceEqual(shape))
            throw new NeuronExplainerException($"{file.Path}: tensor '{name}' has shape {info.ShapeText}; expected [{string.Join(", ", shape)}] from cfg.json");
    }

    static float[] Read(SafeTensorsFile file, string name, params long[] shape)
    {
        Require(file, name, shape);
        return file.ReadFloat32(name);
    }

    /// <summary>The Euclidean norm of each row of a [rows, width] matrix.</summary>
    static float[] RowNorms(float[] matrix, int width)
    {
        var norms = new float[matrix.Length / width];
        for (int r = 0; r < norms.Length; r++) norms[r] = System.Numerics.Tensors.TensorPrimitives.Norm(matrix.AsSpan(r * width, width));
        return norms;
    }

    /// <summary>A cfg.json with errors that name the file and the field.</summary>
    sealed class Config
    {
        readonly string path;
        readonly JsonElement root;

        public Config(string path)
        {
            this.path = path;
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllBytes(path));
                root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new NeuronExplainerException($"{path}: not valid JSON ({e.Message})", e);
            }
            if (root.ValueKind != JsonValueKind.Object) throw new NeuronExplainerException($"{path}: expected a JSON object");
        }

        public NeuronExplainerException Error(string field, string problem) => new($"{path}: field '{field}' {problem}");

        /// <summary>The value at a dotted path (<c>metadata.hook_name</c>), or null when absent.</summary>
        public JsonElement? Find(string field)
        {
            var current = root;
            foreach (var part in field.Split('.'))
                if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current)) return null;
            return current;
        }

        public int PositiveInt(string field) => Find(field) switch
        {
            null => throw Error(field, "is missing; expected a positive integer"),
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out int value) && value > 0 => value,
            var v => throw Error(field, $"is {v.Value.GetRawText()}; expected a positive integer"),
        };

        public string? String(string field) => Find(field) switch
        {
            null or { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.String } v => v.GetString(),
            var v => throw Error(field, $"is {v.Value.GetRawText()}; expected a string"),
        };

        public bool? Bool(string field) => Find(field) switch
        {
            null or { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            var v => throw Error(field, $"is {v.Value.GetRawText()}; expected true or false"),
        };

        /// <summary>The first of <paramref name="fields"/> that holds a string, with its name.</summary>
        public (string Field, string Value)? FirstString(params string[] fields)
        {
            foreach (var field in fields)
                if (String(field) is { } value) return (field, value);
            return null;
        }
    }
}
