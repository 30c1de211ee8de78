using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Viewer;

/// <summary>In-memory store for viewer tests until the SQLite store lands in main.</summary>
sealed class MemoryNeuronStore : INeuronStore
{
    RunManifest? manifest;
    readonly SortedDictionary<(int, int), NeuronRecord> records = new();
    readonly Dictionary<NeuronId, TokenLookupTableSummaryOfNeuron> activationTokens = new();
    readonly Dictionary<NeuronId, WeightBasedSummaryOfNeuron> weightTokens = new();
    readonly Dictionary<NeuronId, NeuronConnections> connections = new();
    readonly Dictionary<(NeuronId, string, string), NeuronExplanationResult> results = new();

    public string Location => "memory";
    public RunManifest? GetManifest() => manifest;
    public void PutManifest(RunManifest m) => manifest = m;
    public void PutNeuronRecords(IReadOnlyList<NeuronRecord> list) { foreach (var r in list) records[(r.NeuronId.LayerIndex, r.NeuronId.NeuronIndex)] = r; }
    public NeuronRecord? GetNeuronRecord(NeuronId id) => records.GetValueOrDefault((id.LayerIndex, id.NeuronIndex));
    public IReadOnlyList<NeuronId> ListNeurons(int? layer = null) => records.Values.Select(r => r.NeuronId).Where(n => layer is null || n.LayerIndex == layer).ToList();
    public IReadOnlyList<int> ListLayers() => records.Keys.Select(k => k.Item1).Distinct().ToList();
    public void PutActivationBasedTokens(NeuronId id, TokenLookupTableSummaryOfNeuron table) => activationTokens[id] = table;
    public TokenLookupTableSummaryOfNeuron? GetActivationBasedTokens(NeuronId id) => activationTokens.GetValueOrDefault(id);
    public void PutWeightBasedTokens(NeuronId id, WeightBasedSummaryOfNeuron summary) => weightTokens[id] = summary;
    public WeightBasedSummaryOfNeuron? GetWeightBasedTokens(NeuronId id) => weightTokens.GetValueOrDefault(id);
    public void PutConnections(NeuronId id, NeuronConnections c) => connections[id] = c;
    public NeuronConnections? GetConnections(NeuronId id) => connections.GetValueOrDefault(id);
    public void PutCheckpoint(string stage, byte[] state) => throw new NotSupportedException();
    public byte[]? GetCheckpoint(string stage) => throw new NotSupportedException();
    public void DeleteCheckpoint(string stage) => throw new NotSupportedException();
    public void PutExplanationResult(NeuronExplanationResult r) => results[(r.Neuron, r.Explainer, r.Simulator)] = r;
    public NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator) => results.GetValueOrDefault((id, explainer, simulator));
    public IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null) => results.Values.Where(r => layer is null || r.Neuron.LayerIndex == layer).ToList();

    public IReadOnlyList<(NeuronId Neuron, string Explanation, string Highlighted, double Rank)> SearchExplanations(string query, int limit)
    {
        var words = query.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return results.Values.Where(r => r.Results is not null)
            .SelectMany(r => r.Results!.ScoredExplanations.Select(e => (r.Neuron, e.Explanation)))
            .Where(x => words.All(w => x.Explanation.Contains(w, StringComparison.OrdinalIgnoreCase)))
            .Select(x => (x.Neuron, x.Explanation, words.Aggregate(x.Explanation, (t, w) => t.Replace(w, $"\u0002{w}\u0003", StringComparison.OrdinalIgnoreCase)), -1.0))
            .Take(limit).ToList();
    }

    public LlmCacheEntry? GetCachedResponse(string key) => throw new NotSupportedException();
    public void PutCachedResponse(LlmCacheEntry entry) => throw new NotSupportedException();
    public void AddLedgerEntry(LedgerEntry entry) => throw new NotSupportedException();
    public IReadOnlyList<LedgerEntry> ListLedger() => throw new NotSupportedException();
    public void Dispose() { }
}
