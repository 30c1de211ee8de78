// libtorch (TorchSharp) timing of the GPT-2-small-shaped forward pass that `neuron-explainer bench` times:
// random weights, 12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257, 64-token windows, no unembedding; the
// last block's output is the result. Weights and activations in float32, or everything cast to bfloat16 (what a
// PyTorch user does with model.to(torch.bfloat16)). Inference mode, torch threads as given (2 by default).
// Run through bench/LibtorchForward/run.sh, which makes the native library load on Debian 12.
using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

var options = Options.Parse(args);
torch.set_num_threads(options.Threads);
torch.manual_seed(0);
Console.WriteLine($"libtorch {torch.__version__} (TorchSharp), {torch.get_num_threads()} threads, {Environment.ProcessorCount} cores; " +
    $"GPT-2-shaped forward: {options.Layers} layers, d_model {Gpt2Shape.D}, d_mlp {Gpt2Shape.Mlp}, {Gpt2Shape.Heads} heads, {options.Seq}-token windows, no unembedding");

foreach (var dtype in options.DTypes)
{
    using var model = new Gpt2Shape(options.Layers, dtype);
    foreach (var batch in options.Batches)
    {
        var m = batch * options.Seq;
        var rates = Gpt2Shape.ProjectionShapes.Select(s => RawLinear(dtype, m, s.N, s.K)).ToArray();
        var flops = Gpt2Shape.ProjectionShapes.Select(s => 2.0 * m * s.N * s.K).ToArray();
        var mix = flops.Sum() / flops.Select((f, i) => f / rates[i]).Sum();
        using var tokens = torch.randint(0, Gpt2Shape.Vocab, [batch, options.Seq], ScalarType.Int64);
        var (median, best, cpu) = TimeRuns(options.Iterations, () => model.Forward(tokens));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"libtorch {Name(dtype)} batch {batch}: {m / median:0} tokens/s (median of {options.Iterations}), best {m / best:0}, {m / cpu:0} tokens/CPU-s; " +
            $"raw linear GFLOP/s {string.Join(" ", rates.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture)))}, layer mix {mix:0.0}"));
    }
}

static string Name(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "float32";

// Median and best seconds of the timed calls after warm-up (at least one call and 1 s: libtorch needs no JIT warm-up,
// and a bf16 pass without bf16 instructions takes tens of seconds), and the process's CPU seconds per call, the
// statistics `neuron-explainer bench` prints.
static (double Median, double Best, double Cpu) TimeRuns(int runs, Action action)
{
    var warm = Stopwatch.StartNew();
    do action(); while (warm.Elapsed.TotalSeconds < 1);
    // One timestamp before each pass and one after the last: pass i took stamps[i + 1] - stamps[i].
    var stamps = new long[runs + 1];
    var process = Process.GetCurrentProcess();
    var cpuBefore = process.TotalProcessorTime;
    for (var i = 0; i < runs; i++)
    {
        stamps[i] = Stopwatch.GetTimestamp();
        action();
    }
    stamps[runs] = Stopwatch.GetTimestamp();
    process.Refresh();
    var passes = stamps.Skip(1).Zip(stamps, (after, before) => (double)(after - before) / Stopwatch.Frequency).Order().ToArray();
    return (passes[runs / 2], passes[0], (process.TotalProcessorTime - cpuBefore).TotalSeconds / runs);
}

// GFLOP/s of x[m, k] · W[n, k]ᵀ in the dtype over repeated calls for about 0.3 s: total FLOPs over total time.
static double RawLinear(ScalarType dtype, int m, int n, int k)
{
    using var noGrad = torch.inference_mode();
    using var x = torch.randn([m, k]).to(dtype);
    using var w = torch.randn([n, k]).to(dtype);
    F.linear(x, w).Dispose();
    var calls = 0;
    var clock = Stopwatch.StartNew();
    for (; calls < 3 || clock.Elapsed.TotalSeconds < 0.3; calls++) F.linear(x, w).Dispose();
    return 2.0 * m * n * k * calls / clock.Elapsed.TotalSeconds / 1e9;
}

/// <summary>GPT-2 small's blocks with random weights (std 0.02, LayerNorm weight 1 and bias 0), in one dtype.</summary>
sealed class Gpt2Shape : IDisposable
{
    public const int D = 768, Mlp = 3072, Heads = 12, Vocab = 50257, Context = 1024;

    public static readonly (int N, int K)[] ProjectionShapes = [(3 * D, D), (D, D), (Mlp, D), (D, Mlp)];

    private readonly Tensor _wte, _wpe;
    private readonly Block[] _blocks;

    public Gpt2Shape(int layers, ScalarType dtype)
    {
        _wte = Random([Vocab, D], dtype);
        _wpe = Random([Context, D], dtype);
        _blocks = [.. Enumerable.Range(0, layers).Select(_ => new Block(dtype))];
    }

    private static Tensor Random(long[] shape, ScalarType dtype)
    {
        using var values = torch.randn(shape) * 0.02;
        return values.to(dtype);
    }

    /// <summary>The last block's output for tokens [batch, seq]; the result is disposed with the call's scope.</summary>
    public void Forward(Tensor tokens)
    {
        using var noGrad = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var (batch, seq) = (tokens.shape[0], tokens.shape[1]);
        var x = _wte.index_select(0, tokens.flatten()).view(batch, seq, D) + _wpe[..(int)seq];
        foreach (var block in _blocks) x = block.Forward(x);
    }

    public void Dispose()
    {
        _wte.Dispose();
        _wpe.Dispose();
        foreach (var block in _blocks) block.Dispose();
    }

    private sealed class Block(ScalarType dtype) : IDisposable
    {
        private readonly Tensor _ln1W = torch.ones(D, dtype), _ln1B = torch.zeros(D, dtype), _ln2W = torch.ones(D, dtype), _ln2B = torch.zeros(D, dtype);
        private readonly Tensor _qkvW = Random([3 * D, D], dtype), _qkvB = Random([3 * D], dtype);
        private readonly Tensor _outW = Random([D, D], dtype), _outB = Random([D], dtype);
        private readonly Tensor _fcW = Random([Mlp, D], dtype), _fcB = Random([Mlp], dtype);
        private readonly Tensor _projW = Random([D, Mlp], dtype), _projB = Random([D], dtype);

        public Tensor Forward(Tensor x)
        {
            var (batch, seq) = (x.shape[0], x.shape[1]);
            var qkv = F.linear(F.layer_norm(x, [D], _ln1W, _ln1B), _qkvW, _qkvB).split(D, -1);
            var (q, k, v) = (Heads_(qkv[0]), Heads_(qkv[1]), Heads_(qkv[2]));
            var attended = F.scaled_dot_product_attention(q, k, v, is_casual: true).transpose(1, 2).reshape(batch, seq, D);
            x = x + F.linear(attended, _outW, _outB);
            var hidden = F.linear(F.layer_norm(x, [D], _ln2W, _ln2B), _fcW, _fcB).gelu(TorchSharp.Modules.GELU.Approximate.tanh);
            return x + F.linear(hidden, _projW, _projB);

            Tensor Heads_(Tensor t) => t.view(batch, seq, Heads, D / Heads).transpose(1, 2);
        }

        public void Dispose()
        {
            foreach (var t in new[] { _ln1W, _ln1B, _ln2W, _ln2B, _qkvW, _qkvB, _outW, _outB, _fcW, _fcB, _projW, _projB }) t.Dispose();
        }
    }
}

/// <summary>Command line: [--batch 8 32] [--seq 64] [--layers 12] [--iterations 5] [--threads 2] [--dtype float32 bf16].</summary>
sealed record Options(int[] Batches, int Seq, int Layers, int Iterations, int Threads, ScalarType[] DTypes)
{
    public static Options Parse(string[] args)
    {
        var o = new Options([8, 32], 64, 12, 5, 2, [ScalarType.Float32, ScalarType.BFloat16]);
        for (var i = 0; i < args.Length; i++)
        {
            var values = args.Skip(i + 1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
            if (values.Length == 0) throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--batch" => o with { Batches = [.. values.Select(Positive)] },
                "--seq" => o with { Seq = Positive(values[0]) },
                "--layers" => o with { Layers = Positive(values[0]) },
                "--iterations" => o with { Iterations = Positive(values[0]) },
                "--threads" => o with { Threads = Positive(values[0]) },
                "--dtype" => o with { DTypes = [.. values.Select(DType)] },
                _ => throw new ArgumentException($"unknown option {args[i]}; expected --batch, --seq, --layers, --iterations, --threads, --dtype"),
            };
            i += values.Length;
        }
        return o;
    }

    private static int Positive(string value) => int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0
        ? n : throw new ArgumentException($"'{value}' is not a positive integer");

    private static ScalarType DType(string value) => value switch
    {
        "float32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--dtype '{value}': expected float32 or bf16"),
    };
}
