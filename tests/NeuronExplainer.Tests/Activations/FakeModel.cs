using System.Text;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;

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

    public ModelInfo Info { get; } = new("fake", prependsBos ? "llama" : "gpt2", layers, DModel, width, 258, maxContext, prependsBos);
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
        return new MlpWeights(Matrix(), prependsBos ? Matrix() : (ReadOnlyMemory<float>?)null, Matrix());
    }

    public (ReadOnlyMemory<float> Embedding, ReadOnlyMemory<float> Unembedding) GetTokenMatrices()
    {
        var random = new Random(99);
        float[] Matrix() => Enumerable.Range(0, 258 * DModel).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        return (Matrix(), Matrix());
    }

    public void Dispose() { }
}

/// <summary>An in-memory store holding what collection writes; the rest of the interface is not needed here.</summary>
sealed class MemoryStore : INeuronStore
{
    public RunManifest? Manifest;
    public readonly Dictionary<NeuronId, NeuronRecord> Records = [];
    public readonly Dictionary<NeuronId, TokenLookupTableSummaryOfNeuron> TokenTables = [];
    public readonly Dictionary<NeuronId, WeightBasedSummaryOfNeuron> TokenWeights = [];
    public readonly Dictionary<NeuronId, NeuronConnections> ConnectionsById = [];
    public readonly Dictionary<string, byte[]> Checkpoints = [];
    public int Writes;

    public string Location => "memory";
    public RunManifest? GetManifest() => Manifest;
    public void PutManifest(RunManifest manifest) { Writes++; Manifest = manifest; }
    public void PutNeuronRecords(IReadOnlyList<NeuronRecord> records) { Writes++; foreach (var r in records) Records[r.NeuronId] = r; }
    public NeuronRecord? GetNeuronRecord(NeuronId id) => Records.GetValueOrDefault(id);
    public IReadOnlyList<NeuronId> ListNeurons(int? layer = null) => Records.Keys.Where(k => layer is null || k.LayerIndex == layer).ToList();
    public IReadOnlyList<int> ListLayers() => Records.Keys.Select(k => k.LayerIndex).Distinct().Order().ToList();
    public void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table) { Writes++; TokenTables[id] = table; }
    public TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id) => TokenTables.GetValueOrDefault(id);
    public void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary) { Writes++; TokenWeights[id] = summary; }
    public WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id) => TokenWeights.GetValueOrDefault(id);
    public void PutConnections(NeuronId id, NeuronConnections connections) { Writes++; ConnectionsById[id] = connections; }
    public NeuronConnections? GetConnections(NeuronId id) => ConnectionsById.GetValueOrDefault(id);
    public void PutCheckpoint(string stage, byte[] state) { Writes++; Checkpoints[stage] = state; }
    public byte[]? GetCheckpoint(string stage) => Checkpoints.GetValueOrDefault(stage);
    public void DeleteCheckpoint(string stage) { Writes++; Checkpoints.Remove(stage); }
    public void PutExplanationResult(NeuronExplanationResult result) => throw new NotSupportedException();
    public NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator) => throw new NotSupportedException();
    public IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null) => throw new NotSupportedException();
    public IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit) => throw new NotSupportedException();
    public LlmCacheEntry? GetCachedResponse(string key) => throw new NotSupportedException();
    public void PutCachedResponse(LlmCacheEntry entry) => throw new NotSupportedException();
    public void AddLedgerEntry(LedgerEntry entry) => throw new NotSupportedException();
    public IReadOnlyList<LedgerEntry> ListLedger() => throw new NotSupportedException();
    public void Dispose() { }
}
