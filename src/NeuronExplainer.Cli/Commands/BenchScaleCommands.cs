using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>bench</c> subcommands for collection at scale (issue 10): the weight-based views alone on a random
/// GPT-2-shaped model, a random GPT-2 checkpoint of any shape in the Hugging Face layout, and a collection timed
/// against the bare forward pass. They print numbers; nothing here is a test.
/// </summary>
public static class BenchScaleCommands
{
    /// <summary>Shape options of a random GPT-2-layout model, shared by the subcommands and <c>bench</c> itself.</summary>
    internal sealed class ShapeOptions
    {
        public readonly Option<int> Layers = new("--layers") { Description = "Layers", DefaultValueFactory = _ => 12 };
        public readonly Option<int> ModelDim = new("--d-model") { Description = "Residual width", DefaultValueFactory = _ => 768 };
        public readonly Option<int> MlpDim = new("--d-mlp") { Description = "Neurons per layer (default 4 x d_model)" };
        public readonly Option<int> Heads = new("--heads") { Description = "Attention heads (default d_model / 64, at least 1)" };
        public readonly Option<int> Vocab = new("--vocab") { Description = "Vocabulary size", DefaultValueFactory = _ => 50257 };
        public readonly Option<int> Context = new("--context") { Description = "Positions", DefaultValueFactory = _ => 1024 };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Layers, ModelDim, MlpDim, Heads, Vocab, Context }) command.Options.Add(option);
        }

        public TransformerConfig Config(ParseResult parse)
        {
            int d = parse.GetValue(ModelDim), heads = parse.GetValue(Heads) is > 0 and var h ? h : Math.Max(1, d / 64);
            if (d <= 0 || d % heads != 0) throw new NeuronExplainerException($"--d-model {d} must be positive and divisible by --heads {heads}");
            var config = new TransformerConfig("GPT2LMHeadModel", parse.GetValue(Layers), d, parse.GetValue(MlpDim) is > 0 and var w ? w : 4 * d,
                heads, heads, d / heads, parse.GetValue(Vocab), parse.GetValue(Context), NormKind.LayerNorm, 1e-5f, MlpActivation.GeluNew,
                GatedMlp: false, LearnedPositions: true, RopeTheta: 0, PrependsBos: false);
            config.Validate("bench options");
            return config;
        }
    }

    public static Command WeightViewsCommand()
    {
        var shape = new ShapeOptions();
        var only = new Option<string>("--only") { Description = "Layers to time: all, or a list such as 0,5", DefaultValueFactory = _ => "all" };
        var command = new Command("weight-views", """
            Time the weight-based views (input/output token weights and upstream/downstream connections) of a random
            GPT-2-shaped model built in memory, layer by layer.

            Examples:
              neuron-explainer bench weight-views
              neuron-explainer bench weight-views --only 5
            """);
        shape.AddTo(command);
        command.Options.Add(only);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var config = shape.Config(parse);
            var layers = IndexList.Parse(parse.GetValue(only)!, "--only")?.ToArray() ?? Enumerable.Range(0, config.LayerCount).ToArray();
            parse.InvocationConfiguration.Error.WriteLine($"creating random weights ({config.LayerCount} layers, d_model {config.ModelDim}, d_mlp {config.MlpDim}, vocab {config.VocabSize}) ...");
            using var model = new Transformer("random", TransformerWeights.Random(config, seed: 1), new BenchCommand.NoTokenizer(config.VocabSize));
            var views = new WeightViews(model, 50, 20);
            output.WriteLine($"weight-based views, {config.LayerCount} layers x {config.MlpDim} neurons, d_model {config.ModelDim}, vocab {config.VocabSize}, {Environment.ProcessorCount} cores");
            output.WriteLine("layer  tokens s  connections s");
            double tokensTotal = 0, connectionsTotal = 0;
            foreach (int layer in layers)
            {
                var clock = Stopwatch.StartNew();
                views.TokenWeights(layer, t => t.ToString(CultureInfo.InvariantCulture));
                double tokens = clock.Elapsed.TotalSeconds;
                clock.Restart();
                views.Connections(layer);
                double connections = clock.Elapsed.TotalSeconds;
                tokensTotal += tokens;
                connectionsTotal += connections;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{layer,5}  {tokens,8:0.00}  {connections,13:0.00}"));
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total  {tokensTotal,8:0.00}  {connectionsTotal,13:0.00}  ({tokensTotal + connectionsTotal:0.00} s for {layers.Length} layers)"));
            return 0;
        });
        return command;
    }

    public static Command Gpt2ModelCommand()
    {
        var shape = new ShapeOptions();
        var output = new Option<string>("--out") { Description = "Directory to write (config.json, model.safetensors, tokenizer files)", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Directory with GPT-2's encoder.json + vocab.bpe (or vocab.json + merges.txt) to copy beside the model", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 1 };
        var command = new Command("gpt2-model", """
            Write a GPT-2 model with random weights (normal, std 0.02; norms 1, biases 0) in the Hugging Face layout:
            config.json, one F32 model.safetensors with Conv1D [in, out] weights, streamed tensor by tensor, and the
            tokenizer files copied beside it. Defaults are GPT-2 small's shape.

            Examples:
              neuron-explainer bench gpt2-model --out /tmp/gpt2-small-random --tokenizer ../shared/models/gpt2-tokenizer
              neuron-explainer bench gpt2-model --out /tmp/gpt2-xl-random --tokenizer ../shared/models/gpt2-tokenizer --layers 48 --d-model 1600 --heads 25
              neuron-explainer bench gpt2-model --out /tmp/wide-48x6400 --tokenizer ../shared/models/gpt2-tokenizer --layers 48 --d-model 64 --d-mlp 6400 --heads 1
            """);
        shape.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(tokenizer);
        command.Options.Add(seed);
        command.SetAction(parse =>
        {
            var config = shape.Config(parse);
            string directory = parse.GetValue(output)!, source = parse.GetValue(tokenizer)!;
            var files = new[] { ("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt") }
                .FirstOrDefault(pair => File.Exists(Path.Combine(source, pair.Item1)) && File.Exists(Path.Combine(source, pair.Item2)));
            if (files == default) throw new NeuronExplainerException($"--tokenizer {source}: expected a directory with encoder.json + vocab.bpe or vocab.json + merges.txt");
            Directory.CreateDirectory(directory);
            File.Copy(Path.Combine(source, files.Item1), Path.Combine(directory, files.Item1), overwrite: true);
            File.Copy(Path.Combine(source, files.Item2), Path.Combine(directory, files.Item2), overwrite: true);
            int d = config.ModelDim, w = config.MlpDim;
            File.WriteAllText(Path.Combine(directory, "config.json"), string.Create(CultureInfo.InvariantCulture, $$"""
                {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": {{config.LayerCount}}, "n_embd": {{d}}, "n_head": {{config.HeadCount}},
                 "n_inner": {{w}}, "vocab_size": {{config.VocabSize}}, "n_positions": {{config.MaxContext}}, "n_ctx": {{config.MaxContext}},
                 "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new"}
                """));
            var tensors = new List<(string Name, long[] Shape, float? Constant)> { ("wte.weight", [config.VocabSize, d], null), ("wpe.weight", [config.MaxContext, d], null) };
            for (int l = 0; l < config.LayerCount; l++)
            {
                string h = $"h.{l}";
                tensors.AddRange([
                    ($"{h}.ln_1.weight", [d], 1), ($"{h}.ln_1.bias", [d], 0),
                    ($"{h}.attn.c_attn.weight", [d, 3 * d], null), ($"{h}.attn.c_attn.bias", [3 * d], 0),
                    ($"{h}.attn.c_proj.weight", [d, d], null), ($"{h}.attn.c_proj.bias", [d], 0),
                    ($"{h}.ln_2.weight", [d], 1), ($"{h}.ln_2.bias", [d], 0),
                    ($"{h}.mlp.c_fc.weight", [d, w], null), ($"{h}.mlp.c_fc.bias", [w], 0),
                    ($"{h}.mlp.c_proj.weight", [w, d], null), ($"{h}.mlp.c_proj.bias", [d], 0)]);
            }
            tensors.AddRange([("ln_f.weight", [d], 1), ("ln_f.bias", [d], 0)]);
            string path = Path.Combine(directory, "model.safetensors");
            long bytes = WriteSafetensors(path, tensors, parse.GetValue(seed));
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path} ({bytes:N0} bytes, {tensors.Count} tensors, {config.LayerCount} layers x {w} neurons, d_model {d}) and {files.Item1} + {files.Item2}");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Writes F32 tensors as safetensors (8-byte little-endian header length, JSON header padded to 8 bytes, raw data),
    /// generating each random tensor in chunks so the model never sits in memory whole.
    /// </summary>
    static long WriteSafetensors(string path, List<(string Name, long[] Shape, float? Constant)> tensors, int seed)
    {
        var header = new System.Text.StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, shape, _) in tensors)
        {
            long length = 4 * shape.Aggregate(1L, (a, b) => a * b);
            header.Append(CultureInfo.InvariantCulture, $",\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(',', shape)}],\"data_offsets\":[{offset},{offset + length}]}}");
            offset += length;
        }
        header.Append('}');
        while (header.Length % 8 != 0) header.Append(' ');
        var random = new Random(seed);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        file.Write(BitConverter.GetBytes((ulong)header.Length));
        file.Write(System.Text.Encoding.ASCII.GetBytes(header.ToString()));
        var chunk = new float[1 << 20];
        foreach (var (_, shape, constant) in tensors)
        {
            for (long left = shape.Aggregate(1L, (a, b) => a * b); left > 0; left -= chunk.Length)
            {
                var part = chunk.AsSpan(0, (int)Math.Min(left, chunk.Length));
                if (constant is { } value) part.Fill(value);
                else
                    for (int i = 0; i < part.Length; i++)
                    {
                        // Box-Muller, one normal per pair of uniforms (speed matters little here).
                        double radius = 0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
                        part[i] = (float)(radius * Math.Cos(2 * Math.PI * random.NextDouble()));
                    }
                file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(part));
            }
        }
        return file.Length;
    }

    public static Command CollectBenchCommand()
    {
        var options = new CollectCommand.CollectOptions();
        var command = new Command("collect", """
            Time a collection against the bare forward pass over the same windows, side by side in one process: an ordinary
            `collect` with the same options in which every batch also runs through the bare pass (same batch, no hooks but
            the deepest layer's output, no samplers) just before the collection's own forward, so both see the same load.
            Prints the overhead, where the time went and the peak RSS.

            Examples:
              neuron-explainer bench collect --model /tmp/gpt2-small-random --corpus ../shared/corpora/webtext-test.jsonl --store /tmp/bench-small --max-tokens 200000
            """);
        options.AddTo(command);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var summary = options.Collect(parse, collector => collector.PairBareForward = true);
            if (summary.AlreadyComplete || summary.Resumed)
                throw new NeuronExplainerException("the store already held (part of) this collection; give a new --store so the whole collection is timed");
            double bare = summary.BareForwardTime.TotalSeconds;
            double pass = (summary.ForwardTime + summary.BookkeepingTime).TotalSeconds, total = (summary.Elapsed - summary.BareForwardTime).TotalSeconds;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $$"""
                bare forward pass (each batch just before the collection's): {{bare:0.00}} s over {{summary.Tokens:N0}} tokens, {{summary.Tokens / bare:N0}} tokens/s
                collection pass (forward with hooks + bookkeeping): {{pass:0.00}} s = {{summary.ForwardTime.TotalSeconds:0.00}} + {{summary.BookkeepingTime.TotalSeconds:0.00}}, overhead {{100 * (pass / bare - 1):0.0}}% over the bare pass
                whole collect without the bare pass (census, pass, checkpoints, records, tables, weight views): {{total:0.00}} s, overhead {{100 * (total / bare - 1):0.0}}% over the bare pass; {{summary.Tokens / total:N0}} tokens/s end to end
                split (s): census {{summary.CensusTime.TotalSeconds:0.00}}, forward {{summary.ForwardTime.TotalSeconds:0.00}}, bookkeeping {{summary.BookkeepingTime.TotalSeconds:0.00}}, checkpoints {{summary.CheckpointTime.TotalSeconds:0.00}}, token tables {{summary.TablesTime.TotalSeconds:0.00}}, weight views {{summary.WeightViewsTime.TotalSeconds:0.00}}, second pass forward {{summary.RecomputeTime.TotalSeconds:0.00}} ({{summary.RecomputedWindows:N0}} windows), records {{summary.RecordsTime.TotalSeconds:0.00}}
                peak RSS (VmHWM): {{PeakRssMiB():N0}} MiB
                """));
            return 0;
        });
        return command;
    }

    public static Command RandomSaeCommand()
    {
        var output = new Option<string>("--out") { Description = "Folder to write (cfg.json + sae_weights.safetensors)", Required = true };
        var dIn = new Option<int>("--d-in") { Description = "Width of the hook read", DefaultValueFactory = _ => 768 };
        var dSae = new Option<int>("--d-sae") { Description = "Latents", DefaultValueFactory = _ => 24576 };
        var k = new Option<int>("--k") { Description = "Latents kept per token (TopK)", DefaultValueFactory = _ => 32 };
        var hook = new Option<string>("--hook") { Description = "Hook the SAE reads", DefaultValueFactory = _ => "blocks.8.hook_resid_pre" };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 1 };
        var command = new Command("random-sae", """
            Write a TopK sparse autoencoder with random weights (normal, std 0.02; biases 0) in SAELens's layout, by
            default GPT-2 small's layer-8 residual SAE shape (768 x 24,576), to time and measure SAE collection.

            Examples:
              neuron-explainer bench random-sae --out /tmp/sae-24576
              neuron-explainer bench collect --model /tmp/gpt2-small-random --corpus ../shared/corpora/webtext-test.jsonl --store /tmp/bench-sae --sae /tmp/sae-24576 --max-tokens 20000
            """);
        foreach (Option option in new Option[] { output, dIn, dSae, k, hook, seed }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string directory = parse.GetValue(output)!;
            int d = parse.GetValue(dIn), m = parse.GetValue(dSae);
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "cfg.json"), string.Create(CultureInfo.InvariantCulture, $$"""
                {"architecture": "topk", "d_in": {{d}}, "d_sae": {{m}}, "k": {{parse.GetValue(k)}}, "dtype": "float32", "apply_b_dec_to_input": true,
                 "normalize_activations": "none", "metadata": {"hook_name": "{{parse.GetValue(hook)}}", "sae_lens_version": "6.18.0"}
                }
                """));
            string path = Path.Combine(directory, "sae_weights.safetensors");
            long bytes = WriteSafetensors(path, [("W_enc", [d, m], null), ("b_enc", [m], 0), ("W_dec", [m, d], null), ("b_dec", [d], 0)], parse.GetValue(seed));
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path} ({bytes:N0} bytes, {d} x {m:N0}) and cfg.json");
            return 0;
        });
        return command;
    }

    /// <summary>The process's peak resident set (VmHWM in /proc/self/status), in MiB; -1 where /proc is missing.</summary>
    static long PeakRssMiB()
    {
        if (!File.Exists("/proc/self/status")) return -1;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? -1 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
