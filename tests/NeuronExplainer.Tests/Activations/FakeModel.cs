using System.Text;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;

namespace NeuronExplainer.Tests.Activations;

/// <summary>Byte-level tokenizer: ids 0..255 are bytes, 256 is BOS, 257 EOS.</summary>
sealed class ByteTokenizer : ITokenizer
{
    public int VocabSize => 258;
    public int? BosId => 256;
    public int? EosId => 257;
    public int[] Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(ids.ToArray().Where(i => i < 256).Select(i => (byte)i).ToArray());
    public string TokenString(int id) => id < 256 ? ((char)id).ToString() : id == 256 ? "<s>" : "</s>";
}

/// <summary>
/// A stand-in transformer whose MLP activations are a fixed function of the window's tokens, so tests
/// can compute every expected statistic by brute force. Counts its forward calls and checks BOS.
/// </summary>
sealed class FakeModel(int layers = 3, int width = 7, bool prependsBos = true, int maxContext = 256) : ITransformerModel
{
    const int DModel = 4;
    public const float BosActivation = 1000f;

    public ModelInfo Info { get; } = new("fake", prependsBos ? "llama" : "gpt2", layers, DModel, width, 258, maxContext, prependsBos, 1, DModel);
    public ITokenizer Tokenizer { get; } = new ByteTokenizer();
    public int ForwardCalls { get; private set; }

    /// <summary>Activation of a neuron at position p of a window (BOS excluded): depends on this and the previous token only.</summary>
    public static float Activation(int layer, int neuron, IReadOnlyList<int> window, int p)
    {
        int previous = p > 0 ? window[p - 1] : 0;
        return MathF.Sin(0.37f * (neuron + 1) * window[p] + 0.11f * layer) * (1 + 0.05f * p)
            + 0.2f * MathF.Cos(0.13f * (neuron + 2) * previous);
    }

    public ForwardResult Forward(ReadOnlySpan<int> tokens, int batchSize, int sequenceLength, ForwardRequest request)
    {
        ForwardCalls++;
        Assert.Equal(batchSize * sequenceLength, tokens.Length);
        int offset = prependsBos ? 1 : 0;
        var hooks = new Dictionary<string, ReadOnlyMemory<float>>();
        foreach (var hook in request.Hooks)
        {
            int layer = int.Parse(hook.Split('.')[1]);
            Assert.Equal(ForwardRequest.MlpPost(layer), hook);
            var values = new float[batchSize * sequenceLength * width];
            for (int b = 0; b < batchSize; b++)
            {
                var row = tokens.Slice(b * sequenceLength, sequenceLength).ToArray();
                if (prependsBos) Assert.Equal(256, row[0]);
                var window = row[offset..];
                for (int s = 0; s < sequenceLength; s++)
                    for (int n = 0; n < width; n++)
                        values[(b * sequenceLength + s) * width + n] = s < offset ? BosActivation : Activation(layer, n, window, s - offset);
            }
            hooks[hook] = values;
        }
        return new ForwardResult(hooks, null);
    }

    public MlpWeights GetMlpWeights(int layer)
    {
        var random = new Random(layer + 1);
        float[] Matrix() => Enumerable.Range(0, width * DModel).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        return new MlpWeights(Matrix(), prependsBos ? Matrix() : (ReadOnlyMemory<float>?)null, Matrix(), Gain(random));
    }

    public (ReadOnlyMemory<float> Embedding, ReadOnlyMemory<float> Unembedding, ReadOnlyMemory<float> FinalNormGain) GetTokenMatrices()
    {
        var random = new Random(99);
        float[] Matrix() => Enumerable.Range(0, 258 * DModel).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        return (Matrix(), Matrix(), Gain(random));
    }

    public ReadOnlyMemory<float> GetAttentionOutWeights(int layer) => throw new NotSupportedException("the fake model has no attention heads");

    static float[] Gain(Random random) => Enumerable.Range(0, DModel).Select(_ => 0.5f + (float)random.NextDouble()).ToArray();

    /// <summary>Times <see cref="ReleaseBuffers"/> was called (it holds no buffers between calls).</summary>
    public int BufferReleases { get; private set; }

    public void ReleaseBuffers() => BufferReleases++;

    public void Dispose() { }
}

