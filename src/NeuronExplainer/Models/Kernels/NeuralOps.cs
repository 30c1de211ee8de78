using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace NeuronExplainer.Models.Kernels;

/// <summary>
/// Element-wise and row-wise transformer operations on row-major buffers, via TensorPrimitives. Kernels are
/// marked AggressiveOptimization so they run optimised from the first call: a short CLI run would otherwise
/// spend its few forward passes in unoptimised tier-0 code.
/// </summary>
public static class NeuralOps
{
    /// <summary>Chunk length for fused element-wise passes: small enough to stay in L1 between passes.</summary>
    private const int Chunk = 2048;

    /// <summary>Each row of <paramref name="x"/> (width = gamma's length) normalised to zero mean and unit variance, then scaled and shifted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayerNorm(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps)
    {
        var width = gamma.Length;
        for (var row = 0; row < x.Length; row += width)
        {
            var src = x.Slice(row, width);
            var dst = y.Slice(row, width);
            var mean = TensorPrimitives.Sum(src) / width;
            TensorPrimitives.Subtract(src, mean, dst);
            var variance = TensorPrimitives.SumOfSquares(dst) / width;
            TensorPrimitives.Multiply(dst, 1f / MathF.Sqrt(variance + eps), dst);
            TensorPrimitives.FusedMultiplyAdd(dst, gamma, beta, dst);
        }
    }

    /// <summary>Each row divided by its root mean square, then scaled by gamma (Llama's RMSNorm).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> gamma, float eps)
    {
        var width = gamma.Length;
        for (var row = 0; row < x.Length; row += width)
        {
            var src = x.Slice(row, width);
            var dst = y.Slice(row, width);
            var scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(src) / width + eps);
            TensorPrimitives.Multiply(src, scale, dst);
            TensorPrimitives.Multiply(dst, gamma, dst);
        }
    }

    /// <summary>GPT-2's gelu_new (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluNew(Span<float> x)
    {
        const float c = 0.7978845608028654f; // sqrt(2/pi)
        Span<float> t = stackalloc float[Chunk];
        for (var start = 0; start < x.Length; start += Chunk)
        {
            var v = x.Slice(start, Math.Min(Chunk, x.Length - start));
            var u = t[..v.Length];
            TensorPrimitives.Multiply(v, v, u);                        // x^2
            TensorPrimitives.Multiply(u, 0.044715f, u);
            TensorPrimitives.MultiplyAdd(u, v, v, u);                  // x + 0.044715 x^3
            TensorPrimitives.Multiply(u, c, u);
            TensorPrimitives.Tanh(u, u);
            TensorPrimitives.MultiplyAdd(u, v, v, u);                  // x tanh(.) + x
            TensorPrimitives.Multiply(u, 0.5f, v);
        }
    }

    /// <summary>silu(gate) * up, written into <paramref name="gate"/> (Llama's SwiGLU neuron).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        // Chunk by chunk, so each chunk is multiplied while still in cache.
        for (var start = 0; start < gate.Length; start += Chunk)
        {
            var g = gate.Slice(start, Math.Min(Chunk, gate.Length - start));
            Silu(g);
            TensorPrimitives.Multiply(g, up.Slice(start, g.Length), g);
        }
    }

    /// <summary>max(0, x) in place.</summary>
    public static void Relu(Span<float> x) => TensorPrimitives.Max(x, 0f, x);

    /// <summary>silu(x) = x * sigmoid(x) in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Silu(Span<float> x)
    {
        Span<float> t = stackalloc float[Chunk];
        for (var start = 0; start < x.Length; start += Chunk)
        {
            var v = x.Slice(start, Math.Min(Chunk, x.Length - start));
            var s = t[..v.Length];
            TensorPrimitives.Sigmoid(v, s);
            TensorPrimitives.Multiply(v, s, v);
        }
    }

    /// <summary>
    /// Scales a square [seq, seq] score block and applies a causal softmax per row: key positions after the
    /// query get probability exactly 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CausalSoftmax(Span<float> scores, int seq, float scale)
    {
        for (var i = 0; i < seq; i++)
        {
            var row = scores.Slice(i * seq, seq);
            var live = row[..(i + 1)];
            TensorPrimitives.Multiply(live, scale, live);
            TensorPrimitives.SoftMax(live, live);
            row[(i + 1)..].Clear();
        }
    }

    /// <summary>
    /// Rotary embedding in Hugging Face's rotate-half convention, in place on <paramref name="heads"/> consecutive
    /// head vectors of one token: pairs (j, j + half) turn by angle position * theta^(-2j/headDim).
    /// <paramref name="cos"/>/<paramref name="sin"/> are this position's table rows (length headDim/2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RotateHalf(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        var half = headDim / 2;
        for (var h = 0; h < heads; h++)
        {
            var head = x.Slice(h * headDim, headDim);
            for (var j = 0; j < half; j++)
            {
                float x1 = head[j], x2 = head[j + half];
                head[j] = x1 * cos[j] - x2 * sin[j];
                head[j + half] = x2 * cos[j] + x1 * sin[j];
            }
        }
    }

    /// <summary>A row-major [rows, cols] matrix transposed to [cols, rows] (weight layout conversion on load).</summary>
    public static T[] Transpose<T>(ReadOnlySpan<T> matrix, int rows, int cols)
    {
        var result = new T[matrix.Length];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            result[c * rows + r] = matrix[r * cols + c];
        return result;
    }
}
