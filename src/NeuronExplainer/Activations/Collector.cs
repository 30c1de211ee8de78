using System.Diagnostics;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>Where a collection stands, for progress displays.</summary>
public sealed record CollectionProgress(long Tokens, long Windows, long Documents, long BytesRead, long TotalBytes, long? MaxTokens)
{
    /// <summary>Fraction done: by tokens when capped, else by corpus bytes read.</summary>
    public double Fraction => MaxTokens is { } max
        ? Math.Min(1, (double)Tokens / max)
        : TotalBytes == 0 ? 0 : Math.Min(1, (double)BytesRead / TotalBytes);
}

/// <summary>What a collection did, for the closing summary.</summary>
public sealed record CollectionSummary(
    int Layers, int Neurons, long Documents, long Windows, long Tokens, long SkippedLines,
    bool Resumed, bool AlreadyComplete, TimeSpan Elapsed, TimeSpan ForwardTime, TimeSpan BookkeepingTime, TimeSpan FinishTime, long PeakKeptWindows);

/// <summary>
/// Collects the records of every neuron of the chosen layers in one streaming pass over a corpus:
/// documents are tokenized alone, cut into windows, batched by length, run through the model, and
/// every neuron's samplers see every window. State is checkpointed into the store at document
/// boundaries so a killed run resumes where it stopped and ends with the same records.
/// </summary>
public sealed class Collector
{
    public const string CheckpointStage = "collect";
    const int CheckpointFormat = 1;

    readonly ITransformerModel model;
    readonly CollectionSettings settings;
    readonly CorpusOptions corpus;
    readonly string modelName;
    readonly IReadOnlyList<int> layers;
    readonly IReadOnlyDictionary<string, string> manifestSettings;
    readonly UnitSource units;

    /// <param name="units">The units to collect; the model's MLP neurons by default.</param>
    public Collector(ITransformerModel model, CollectionSettings settings, CorpusOptions corpus, string modelName, UnitSource? units = null)
    {
        this.model = model;
        this.units = units ?? UnitSource.MlpNeurons(model.Info);
        this.settings = settings;
        this.corpus = corpus with { Path = Path.GetFullPath(corpus.Path) };
        this.modelName = modelName;
        layers = settings.Validate(model.Info);
        manifestSettings = settings.ToManifest(layers, this.corpus);
        if (model.Info.PrependsBos && model.Tokenizer.BosId is null)
            throw new NeuronExplainerException($"model {model.Info.Name} expects BOS but its tokenizer defines no BOS token");
    }

    public IReadOnlyList<int> Layers => layers;

    /// <summary>The manifest this collection writes into a store.</summary>
    public RunManifest Manifest(string toolVersion) => new(modelName, corpus.Path, manifestSettings, toolVersion, DateTimeOffset.UtcNow);

    /// <summary>Why a store's manifest is not this collection's (null when it is, or when the store is empty).</summary>
    public string? Conflict(RunManifest? existing)
    {
        if (existing is null) return null;
        var differences = new List<string>();
        if (existing.Model != modelName) differences.Add($"model '{existing.Model}' vs '{modelName}'");
        if (existing.Corpus != corpus.Path) differences.Add($"corpus '{existing.Corpus}' vs '{corpus.Path}'");
        foreach (var key in manifestSettings.Keys.Union(existing.Settings.Keys.Where(k => k.StartsWith("collect.", StringComparison.Ordinal))).Order(StringComparer.Ordinal))
        {
            string? theirs = existing.Settings.GetValueOrDefault(key), ours = manifestSettings.GetValueOrDefault(key);
            if (theirs != ours) differences.Add($"{key} {theirs ?? "(none)"} vs {ours ?? "(none)"}");
        }
        return differences.Count == 0 ? null : string.Join("; ", differences);
    }

    /// <summary>
    /// Reads the corpus until it yields one window, so a corpus too short to collect from is refused
    /// before any store is opened or written. When lines were skipped, the error says how many and the first,
    /// since a corpus that could not be read at all (e.g. not UTF-8) is not a short one.
    /// </summary>
    public void EnsureCorpusHasAWindow()
    {
        var reader = new CorpusReader(corpus);
        long skipped = 0;
        CorpusIssue? first = null;
        foreach (var document in reader.ReadDocuments(issue => { skipped++; first ??= issue; }))
            if (Windowing.Cut(model.Tokenizer.Encode(document), settings.SequenceLength).Any()) return;
        if (first is not null && skipped == reader.LinesRead)
            throw new NeuronExplainerException(
                $"corpus '{corpus.Path}' has nothing to read: all {skipped} lines were skipped (the first: {first}); expected UTF-8 text or JSONL with a string field '{corpus.TextField}'");
        string skips = first is null ? "" : $"; {skipped} of {reader.LinesRead} lines were skipped (the first: {first})";
        throw new NeuronExplainerException(
            $"corpus '{corpus.Path}' yields no window of --seq-len {settings.SequenceLength} (a document needs at least {(settings.SequenceLength + 1) / 2} tokens){skips}; expected a longer corpus or a smaller --seq-len");
    }

    /// <summary>
    /// Collects into <paramref name="store"/>, resuming from its checkpoint when there is one. Refuses
    /// a store holding another collection (see <see cref="Conflict"/>); the caller decides whether to
    /// discard it. Nothing is written before the first checkpoint.
    /// </summary>
    public CollectionSummary Run(ICollectionOutput store, string toolVersion, Action<CollectionProgress>? progress = null,
        Action<CorpusIssue>? onIssue = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var existing = store.GetManifest();
        if (Conflict(existing) is { } conflict)
            throw new NeuronExplainerException($"store '{store.Location}' holds a collection with other settings ({conflict}); use --force to discard it, or another --store");
        var checkpoint = store.GetCheckpoint(CheckpointStage);
        if (existing is not null && checkpoint is null && store.GetCollectionState() == CollectionState.Complete)
            return new CollectionSummary(layers.Count, layers.Count * units.Width, 0, 0, 0, 0, false, true, clock.Elapsed, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0);
        EnsureCorpusHasAWindow();

        var state = new CollectionPass(model, layers, settings, units);
        bool resumed = checkpoint is not null;
        if (checkpoint is not null) state.Read(checkpoint, CheckpointFormat, manifestSettings);

        var reader = new CorpusReader(corpus);
        var batcher = new WindowBatcher(settings.BatchWindows);
        long skip = state.Documents, sinceCheckpoint = 0, documentIndex = 0;
        bool skipping = skip > 0, full = false;
        foreach (var document in reader.ReadDocuments(issue =>
        {
            if (skipping) return;
            state.SkippedLines++;
            onIssue?.Invoke(issue);
        }))
        {
            cancellation.ThrowIfCancellationRequested();
            if (documentIndex++ < skip) continue;
            skipping = false;
            foreach (var tokens in Windowing.Cut(model.Tokenizer.Encode(document), settings.SequenceLength))
            {
                if (settings.MaxTokens is { } max && state.Tokens + tokens.Length > max)
                {
                    full = true;
                    break;
                }
                state.Tokens += tokens.Length;
                sinceCheckpoint++;
                if (batcher.Add(new TokenWindow(state.WindowsCut++, tokens)) is { } batch) state.Process(batch);
            }
            state.Documents = documentIndex;
            progress?.Invoke(new CollectionProgress(state.Tokens, state.WindowsCut, state.Documents, reader.BytesRead, reader.TotalBytes, settings.MaxTokens));
            if (full) break;
            if (sinceCheckpoint >= settings.CheckpointWindows)
            {
                // Batches are flushed only here, at the same points in every run, so a resumed run
                // sees exactly the batches an uninterrupted one does.
                foreach (var pending in batcher.Flush()) state.Process(pending);
                if (existing is null) store.PutManifest(existing = Manifest(toolVersion));
                store.PutCheckpoint(CheckpointStage, state.Write(CheckpointFormat, manifestSettings));
                sinceCheckpoint = 0;
            }
        }
        foreach (var pending in batcher.Flush()) state.Process(pending);
        if (state.WindowsSeen == 0)
            throw new NeuronExplainerException($"corpus '{corpus.Path}' yields no window of --seq-len {settings.SequenceLength}; expected a longer corpus or a smaller --seq-len");

        var finish = Stopwatch.StartNew();
        Finish(store, state, toolVersion, existing);
        return new CollectionSummary(layers.Count, layers.Count * units.Width, state.Documents, state.WindowsSeen, state.Tokens,
            state.SkippedLines, resumed, false, clock.Elapsed, state.Forward, state.Bookkeeping, finish.Elapsed, state.PeakKeptWindows);
    }

    /// <summary>
    /// Builds and stores records, token tables and weight views layer by layer (to bound memory). The store is
    /// marked complete only after the last write, and the checkpoint removed after that, so a run killed on the
    /// way resumes from the checkpoint and explain refuses a half-written store.
    /// </summary>
    void Finish(ICollectionOutput store, CollectionPass state, string toolVersion, RunManifest? existing)
    {
        if (existing is null) store.PutManifest(Manifest(toolVersion));
        if (store.GetCheckpoint(CheckpointStage) is null) store.PutCheckpoint(CheckpointStage, state.Write(CheckpointFormat, manifestSettings));
        var tokenizer = model.Tokenizer;
        var strings = new string[model.Info.VocabSize];
        string TokenString(int id) => strings[id] ??= tokenizer.TokenString(id);
        var weights = new WeightViews(model, settings.TokenTableSize, settings.ConnectionCount);
        foreach (var sampler in state.Samplers)
        {
            store.PutNeuronRecords(Enumerable.Range(0, sampler.Width)
                .Select(n => sampler.BuildRecord(n, state.WindowsSeen, state.Kept, TokenString))
                .Select(r => r with { NeuronId = r.NeuronId with { Kind = units.Kind } }).ToArray());
            var tokenWeights = weights.TokenWeights(sampler.Layer, TokenString);
            var connections = weights.Connections(sampler.Layer);
            for (int n = 0; n < sampler.Width; n++)
            {
                var id = new NeuronId(sampler.Layer, n) { Kind = units.Kind };
                store.PutActivationBasedTokens(id, sampler.BuildTokenTable(n, state.TokenCounts, TokenString));
                store.PutWeightBasedTokens(id, tokenWeights[n]);
                store.PutConnections(id, connections[n]);
            }
        }
        store.MarkCollectionComplete();
        store.DeleteCheckpoint(CheckpointStage);
    }
}
