using System.Diagnostics;
using NeuronExplainer.Models;
using NeuronExplainer.Storage;

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
    bool Resumed, bool AlreadyComplete, TimeSpan Elapsed, TimeSpan ForwardTime, TimeSpan BookkeepingTime, long PeakKeptWindows);

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

    public Collector(ITransformerModel model, CollectionSettings settings, CorpusOptions corpus, string modelName)
    {
        this.model = model;
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
    /// before any store is opened or written.
    /// </summary>
    public void EnsureCorpusHasAWindow()
    {
        var reader = new CorpusReader(corpus);
        foreach (var document in reader.ReadDocuments(_ => { }))
            if (Windowing.Cut(model.Tokenizer.Encode(document), settings.SequenceLength).Any()) return;
        throw new NeuronExplainerException(
            $"corpus '{corpus.Path}' yields no window of --seq-len {settings.SequenceLength} (a document needs at least {(settings.SequenceLength + 1) / 2} tokens); expected a longer corpus or a smaller --seq-len");
    }

    /// <summary>
    /// Collects into <paramref name="store"/>, resuming from its checkpoint when there is one. Refuses
    /// a store holding another collection (see <see cref="Conflict"/>); the caller decides whether to
    /// discard it. Nothing is written before the first checkpoint.
    /// </summary>
    public CollectionSummary Run(INeuronStore store, string toolVersion, Action<CollectionProgress>? progress = null,
        Action<CorpusIssue>? onIssue = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var existing = store.GetManifest();
        if (Conflict(existing) is { } conflict)
            throw new NeuronExplainerException($"store '{store.Location}' holds a collection with other settings ({conflict}); use --force to discard it, or another --store");
        var checkpoint = store.GetCheckpoint(CheckpointStage);
        if (existing is not null && checkpoint is null && layers.All(l => store.ListNeurons(l).Count == model.Info.MlpDim))
            return new CollectionSummary(layers.Count, layers.Count * model.Info.MlpDim, 0, 0, 0, 0, false, true, clock.Elapsed, TimeSpan.Zero, TimeSpan.Zero, 0);
        EnsureCorpusHasAWindow();

        var state = new PassState(layers.Select(l => new LayerSampler(l, model.Info.MlpDim, model.Info.VocabSize, settings)).ToArray(), model.Info.VocabSize);
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
                if (batcher.Add(new TokenWindow(state.WindowsCut++, tokens)) is { } batch) Process(batch, state);
            }
            state.Documents = documentIndex;
            progress?.Invoke(new CollectionProgress(state.Tokens, state.WindowsCut, state.Documents, reader.BytesRead, reader.TotalBytes, settings.MaxTokens));
            if (full) break;
            if (sinceCheckpoint >= settings.CheckpointWindows)
            {
                // Batches are flushed only here, at the same points in every run, so a resumed run
                // sees exactly the batches an uninterrupted one does.
                foreach (var pending in batcher.Flush()) Process(pending, state);
                if (existing is null) store.PutManifest(existing = Manifest(toolVersion));
                store.PutCheckpoint(CheckpointStage, state.Write(CheckpointFormat, manifestSettings));
                sinceCheckpoint = 0;
            }
        }
        foreach (var pending in batcher.Flush()) Process(pending, state);
        if (state.WindowsSeen == 0)
            throw new NeuronExplainerException($"corpus '{corpus.Path}' yields no window of --seq-len {settings.SequenceLength}; expected a longer corpus or a smaller --seq-len");

        var bookkeeping = Stopwatch.StartNew();
        Finish(store, state, toolVersion, existing);
        state.Bookkeeping += bookkeeping.Elapsed;
        return new CollectionSummary(layers.Count, layers.Count * model.Info.MlpDim, state.Documents, state.WindowsSeen, state.Tokens,
            state.SkippedLines, resumed, false, clock.Elapsed, state.Forward, state.Bookkeeping, state.PeakKeptWindows);
    }

    void Process(List<TokenWindow> batch, PassState state)
    {
        int length = batch[0].Tokens.Length, offset = model.Info.PrependsBos ? 1 : 0, rows = length + offset;
        var input = new int[batch.Count * rows];
        var tokenRows = new int[batch.Count * length];
        for (int b = 0; b < batch.Count; b++)
        {
            if (offset == 1) input[b * rows] = model.Tokenizer.BosId!.Value;
            batch[b].Tokens.CopyTo(input, b * rows + offset);
            for (int t = 0; t < length; t++) tokenRows[b * length + t] = b * rows + offset + t;
            foreach (int token in batch[b].Tokens)
            {
                if ((uint)token >= (uint)state.TokenCounts.Length)
                    throw new NeuronExplainerException($"the tokenizer produced id {token} outside the model's vocabulary of {state.TokenCounts.Length}");
                state.TokenCounts[token]++;
            }
        }
        var clock = Stopwatch.StartNew();
        var result = model.Forward(input, batch.Count, rows, new ForwardRequest(layers.Select(ForwardRequest.MlpPost).ToArray()));
        state.Forward += clock.Elapsed;
        clock.Restart();
        foreach (var sampler in state.Samplers)
            sampler.Add(result.Hook(ForwardRequest.MlpPost(sampler.Layer)), batch, rows, offset, tokenRows, state.WindowsSeen, state.Kept);
        state.WindowsSeen += batch.Count;
        state.PeakKeptWindows = Math.Max(state.PeakKeptWindows, state.Kept.Count);
        state.Bookkeeping += clock.Elapsed;
    }

    void Finish(INeuronStore store, PassState state, string toolVersion, RunManifest? existing)
    {
        var tokenizer = model.Tokenizer;
        var strings = new string[model.Info.VocabSize];
        string TokenString(int id) => strings[id] ??= tokenizer.TokenString(id);
        var records = state.Samplers
            .SelectMany(s => Enumerable.Range(0, s.Width).Select(n => s.BuildRecord(n, state.WindowsSeen, state.Kept, TokenString)))
            .ToArray();
        var weights = new WeightViews(model, settings.TokenTableSize, settings.ConnectionCount);
        if (existing is null) store.PutManifest(Manifest(toolVersion));
        store.PutNeuronRecords(records);
        foreach (var sampler in state.Samplers)
        {
            var tokenWeights = weights.TokenWeights(sampler.Layer, TokenString);
            var connections = weights.Connections(sampler.Layer);
            for (int n = 0; n < sampler.Width; n++)
            {
                var id = new NeuronId(sampler.Layer, n);
                store.PutActivationBasedTokens(id, sampler.BuildTokenTable(n, state.TokenCounts, TokenString));
                store.PutWeightBasedTokens(id, tokenWeights[n]);
                store.PutConnections(id, connections[n]);
            }
        }
        store.DeleteCheckpoint(CheckpointStage);
    }

    /// <summary>Everything a pass accumulates, with its (de)serialisation for checkpoints.</summary>
    sealed class PassState(LayerSampler[] samplers, int vocabSize)
    {
        public LayerSampler[] Samplers { get; } = samplers;
        public WindowTokens Kept { get; } = new();
        public long[] TokenCounts { get; } = new long[vocabSize];
        public long Documents, WindowsCut, WindowsSeen, Tokens, SkippedLines, PeakKeptWindows;
        public TimeSpan Forward, Bookkeeping;

        public byte[] Write(int format, IReadOnlyDictionary<string, string> settings)
        {
            using var buffer = new MemoryStream();
            using (var writer = new BinaryWriter(buffer))
            {
                writer.Write(format);
                writer.Write(Fingerprint(settings));
                foreach (long value in new[] { Documents, WindowsCut, WindowsSeen, Tokens, SkippedLines, PeakKeptWindows }) writer.Write(value);
                Checkpointing.Write(writer, TokenCounts);
                Kept.Write(writer);
                foreach (var sampler in Samplers) sampler.Write(writer);
            }
            return buffer.ToArray();
        }

        public void Read(byte[] state, int format, IReadOnlyDictionary<string, string> settings)
        {
            using var reader = new BinaryReader(new MemoryStream(state));
            try
            {
                if (reader.ReadInt32() != format || reader.ReadString() != Fingerprint(settings))
                    throw new NeuronExplainerException("the store's collection checkpoint was written by another version or settings; run collect with --force to start over");
                Documents = reader.ReadInt64();
                WindowsCut = reader.ReadInt64();
                WindowsSeen = reader.ReadInt64();
                Tokens = reader.ReadInt64();
                SkippedLines = reader.ReadInt64();
                PeakKeptWindows = reader.ReadInt64();
                Checkpointing.Read<long>(reader, TokenCounts);
                Kept.Read(reader);
                foreach (var sampler in Samplers) sampler.Read(reader);
            }
            catch (EndOfStreamException)
            {
                throw new NeuronExplainerException("the store's collection checkpoint is truncated; run collect with --force to start over");
            }
        }

        static string Fingerprint(IReadOnlyDictionary<string, string> settings) =>
            string.Join(";", settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));
    }
}
