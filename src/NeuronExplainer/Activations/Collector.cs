using System.Diagnostics;
using System.Runtime;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>Where a collection stands, for progress displays.</summary>
public sealed record CollectionProgress(long Tokens, long Windows, long Documents, long BytesRead, long TotalBytes, long? MaxTokens)
{
    /// <summary>"counting" during the census read, "collecting" during the pass.</summary>
    public string Stage { get; init; } = "collecting";

    /// <summary>Fraction done: by tokens when capped, else by corpus bytes read.</summary>
    public double Fraction => MaxTokens is { } max
        ? Math.Min(1, (double)Tokens / max)
        : TotalBytes == 0 ? 0 : Math.Min(1, (double)BytesRead / TotalBytes);
}

/// <summary>What a collection did, for the closing summary.</summary>
public sealed record CollectionSummary(
    int Layers, int Neurons, long Documents, long Windows, long Tokens, long SkippedLines,
    bool Resumed, bool AlreadyComplete, TimeSpan Elapsed, TimeSpan ForwardTime, TimeSpan BookkeepingTime, TimeSpan FinishTime, long PeakKeptWindows)
{
    /// <summary>The memory plan the collection ran under (null when there was nothing to do).</summary>
    public MemoryPlan? Plan { get; init; }
    /// <summary>Time of the census read (tokenizing and counting only).</summary>
    public TimeSpan CensusTime { get; init; }
    /// <summary>The corpus shard this collection was (null: the whole corpus).</summary>
    public CorpusShard? Shard { get; init; }
    /// <summary>Shards whose states this collection merged and wrote the records of (0: it wrote none, or was not sharded).</summary>
    public int MergedShards { get; init; }
    /// <summary>Forward time of the second pass, over only the windows the records need, and how many it ran.</summary>
    public TimeSpan RecomputeTime { get; init; }
    public long RecomputedWindows { get; init; }
    /// <summary>With <see cref="Collector.PairBareForward"/>: the bare forward pass's time over the same batches, run just before each.</summary>
    public TimeSpan BareForwardTime { get; init; }
    /// <summary>Time writing checkpoint files during and at the end of the pass.</summary>
    public TimeSpan CheckpointTime { get; init; }
    /// <summary>Of <see cref="CollectionSummary.FinishTime"/>: quantile boundaries and token tables, weight-based views, and
    /// records (built and stored, the second pass's forward time not included).</summary>
    public TimeSpan TablesTime { get; init; }
    public TimeSpan WeightViewsTime { get; init; }
    public TimeSpan RecordsTime { get; init; }
}

/// <summary>Where the writing after the pass spent its time.</summary>
sealed record FinishTimes(TimeSpan Tables, TimeSpan WeightViews, TimeSpan Records, RecordPass RecordPass);

/// <summary>
/// Collects the records of every neuron of the chosen layers in one streaming pass over a corpus:
/// documents are tokenized alone, cut into windows, batched by length, run through the model, and
/// every neuron's samplers see every window. State is checkpointed into the store at document
/// boundaries so a killed run resumes where it stopped and ends with the same records.
/// </summary>
public sealed class Collector
{
    public const string CheckpointStage = "collect";
    /// <summary>What to do when a store's collection cannot be continued; a front end may say it with its own option (a CLI flag).</summary>
    public const string StartOverAdvice = "discard the store's collection and collect again to start over";
    /// <summary>3: shared samples keep each slot's item and the pass counts its batches, so corpus shards merge.</summary>
    const int CheckpointFormat = 3;

    readonly ITransformerModel model;
    readonly CollectionSettings settings;
    readonly CorpusOptions corpus;
    readonly string modelName;
    readonly IReadOnlyList<int> layers;
    readonly IReadOnlyDictionary<string, string> manifestSettings;
    /// <summary>The sources of the units: one (MLP neurons, heads, an SAE), or several SAEs, ordered by id.</summary>
    readonly IReadOnlyList<UnitSource> sources;
    /// <summary>One sampler's units each: a layer's of the one source, or one SAE's.</summary>
    readonly IReadOnlyList<UnitBlock> blocks;

    /// <summary>
    /// Runs every batch of the pass through the bare forward pass too (the same windows in the same batches, no hook but
    /// the deepest collected layer's output, no sampler), just before the collection's own forward, and reports its time
    /// as <see cref="CollectionSummary.BareForwardTime"/>: the baseline of the collection's overhead, measured side by side.
    /// Benchmarks only; the records are the same.
    /// </summary>
    public bool PairBareForward { get; set; }

    /// <param name="units">The units to collect; the model's MLP neurons by default.</param>
    public Collector(ITransformerModel model, CollectionSettings settings, CorpusOptions corpus, string modelName, UnitSource? units = null)
        : this(model, settings, corpus, modelName, [units ?? UnitSource.MlpNeurons(model.Info)])
    {
    }

    /// <param name="units">
    /// The units to collect: one source, or the latents of several SAEs (distinct ids; any layers and hooks, two on one
    /// hook included), all collected in the same pass, one forward per batch capturing every hook they read.
    /// </param>
    public Collector(ITransformerModel model, CollectionSettings settings, CorpusOptions corpus, string modelName, IReadOnlyList<UnitSource> units)
    {
        this.model = model;
        this.settings = settings;
        this.corpus = corpus with { Path = Path.GetFullPath(corpus.Path) };
        this.modelName = modelName;
        if (units.Count == 0) throw new ArgumentException("expected at least one unit source", nameof(units));
        if (units.Count > 1 && units.FirstOrDefault(u => u.Sae is null) is { } other)
            throw new NeuronExplainerException($"a collection of several unit sources takes SAE latents only, not {NeuronId.Prefix(other.Kind)} units; a store holds one kind");
        foreach (var twice in units.GroupBy(u => u.SaeId).Where(g => g.Key is not null && g.Count() > 1))
            throw new NeuronExplainerException($"SAE id '{twice.Key}' names {twice.Count()} SAEs ({string.Join(", ", twice.Select(u => u.Sae!.Config.Source))}); expected a distinct id for each");
        // By id, so the same SAEs given in another order are the same collection.
        sources = units.Count == 1 ? units : units.OrderBy(u => u.SaeId, StringComparer.Ordinal).ToArray();
        var selected = settings.Validate(model.Info);
        if (sources.All(u => u.FixedLayers is not null))
        {
            blocks = sources.SelectMany(u => u.FixedLayers!.Select(l => new UnitBlock(u, l))).ToArray();
            layers = blocks.Select(b => b.Layer).Distinct().Order().ToArray();
            if (settings.Layers is not null && !settings.Layers.Distinct().Order().SequenceEqual(layers))
                throw SettingException.Of<CollectionSettings>(nameof(CollectionSettings.Layers),
                    $"names layers {string.Join(',', settings.Layers)}, but the {NeuronId.Prefix(sources[0].Kind)} units read layer{(layers.Count == 1 ? "" : "s")} "
                    + string.Join(", ", blocks.GroupBy(b => b.Layer).OrderBy(g => g.Key).Select(g => $"{g.Key} ({string.Join(", ", g.Select(b => b.Hook).Distinct())})"))
                    + "; expected no layers or exactly those");
        }
        else
        {
            layers = selected;
            blocks = layers.Select(l => new UnitBlock(sources[0], l)).ToArray();
        }
        manifestSettings = settings.ToManifest(layers, this.corpus);
        if (sources[0].Kind == UnitKind.SaeLatent)
        {
            // A store holds one collection: every SAE, by id, source folder, hook and layer.
            var withSaes = new SortedDictionary<string, string>(manifestSettings.ToDictionary()) { ["collect.units"] = NeuronId.Prefix(UnitKind.SaeLatent) };
            foreach (var (key, value) in CollectedSae.ToManifest(blocks.Select(b => new CollectedSae(b.Units.SaeId!, Path.GetFullPath(b.Units.Sae!.Config.Source), b.Hook, b.Layer))))
                withSaes[key] = value;
            manifestSettings = withSaes;
        }
        else if (sources[0].Kind == UnitKind.AttentionHead)
            manifestSettings = new SortedDictionary<string, string>(manifestSettings.ToDictionary()) { ["collect.units"] = NeuronId.Prefix(UnitKind.AttentionHead) };
        // bf16 weights give other activations, so a collection records them (float32 is recorded by absence, which
        // keeps stores collected before the setting existed matching).
        if (model.Info.DType != WeightDType.Float32)
            manifestSettings = new SortedDictionary<string, string>(manifestSettings.ToDictionary()) { [DTypeSetting] = model.Info.DType.Name() };
        if (model.Info.PrependsBos && model.Tokenizer.BosId is null)
            throw new NeuronExplainerException($"model {model.Info.Name} expects BOS but its tokenizer defines no BOS token");
    }

    /// <summary>The units each sampler of this collection keeps: one block per layer, or one per SAE.</summary>
    public IReadOnlyList<UnitBlock> Blocks => blocks;

    int UnitCount => blocks.Sum(b => b.Width);

    /// <summary>The manifest setting naming the weight dtype of a collection whose weights were not float32.</summary>
    public const string DTypeSetting = "collect.dtype";

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
        // A one-SAE store collected before several SAEs were possible records its SAE in the older entries.
        var recorded = CollectedSae.Upgrade(existing.Settings);
        foreach (var key in manifestSettings.Keys.Union(recorded.Keys.Where(k => k.StartsWith("collect.", StringComparison.Ordinal))).Order(StringComparer.Ordinal))
        {
            string? theirs = recorded.GetValueOrDefault(key), ours = manifestSettings.GetValueOrDefault(key);
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
            $"corpus '{corpus.Path}' yields no window of CollectionSettings.SequenceLength {settings.SequenceLength} (a document needs at least {(settings.SequenceLength + 1) / 2} tokens){skips}; expected a longer corpus or a smaller CollectionSettings.SequenceLength");
    }

    /// <summary>
    /// Collects into <paramref name="store"/>, resuming from its checkpoint when there is one. Refuses
    /// a store holding another collection (see <see cref="Conflict"/>); the caller decides whether to
    /// discard it. The corpus is counted first and the memory plan made (and handed to <paramref name="onPlan"/>)
    /// before any forward pass; a plan that does not fit the budget is refused then. Nothing is written
    /// before the first checkpoint.
    /// </summary>
    public CollectionSummary Run(ICollectionOutput store, string toolVersion, Action<CollectionProgress>? progress = null,
        Action<CorpusIssue>? onIssue = null, CancellationToken cancellation = default, Action<MemoryPlan>? onPlan = null)
    {
        var clock = Stopwatch.StartNew();
        var existing = store.GetManifest();
        if (Conflict(existing) is { } conflict)
            throw new NeuronExplainerException($"store '{store.Location}' holds a collection with other settings ({conflict}); {StartOverAdvice}, or use another store");
        var shard = settings.CorpusShard;
        string stage = shard?.Stage(CheckpointStage) ?? CheckpointStage;
        var marker = store.GetCheckpoint(stage);
        // A shard's own state may outlive a merge stopped after it marked the collection complete.
        if (existing is not null && (marker is null || shard is not null) && store.GetCollectionState() == CollectionState.Complete)
            return new CollectionSummary(layers.Count, UnitCount, 0, 0, 0, 0, false, true, clock.Elapsed, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0);

        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (settings.MemoryBudget > available)
            throw SettingException.Of<CollectionSettings>(nameof(CollectionSettings.MemoryBudget), $"{MemoryPlanner.Size(settings.MemoryBudget.Value)} is more than the {MemoryPlanner.Size(available)} this process may use (physical memory, container limit or DOTNET_GCHeapHardLimit); expected at most that");
        var census = CorpusCensus.Count(corpus, model, settings, progress, onIssue, cancellation);
        var censusTime = clock.Elapsed;
        if (census.Windows == 0)
        {
            // Says why (every line unreadable, or documents too short), with the skipped lines.
            EnsureCorpusHasAWindow();
            throw new NeuronExplainerException($"corpus '{corpus.Path}' yields no window of CollectionSettings.SequenceLength {settings.SequenceLength} (a document needs at least {(settings.SequenceLength + 1) / 2} tokens); expected a longer corpus or a smaller CollectionSettings.SequenceLength");
        }

        var files = new CheckpointFile(CheckpointDirectory(store), stage);
        using var resume = marker is null ? null : files.Open(marker);
        bool? kept = resume is null ? null : CollectionPass.ReadHeader(resume, CheckpointFormat, manifestSettings);
        var plan = MemoryPlanner.Plan(model.Info, blocks, settings, census, settings.MemoryBudget ?? MemoryPlanner.DefaultBudget(), kept);
        long free = new DriveInfo(Path.GetFullPath(CheckpointDirectory(store))).AvailableFreeSpace;
        if (free < plan.CheckpointBytes)
            throw new NeuronExplainerException($"the collection checkpoint needs {MemoryPlanner.Size(plan.CheckpointBytes)} on the disk of {CheckpointDirectory(store)}, which has {MemoryPlanner.Size(free)} free; free some space or use another store");
        onPlan?.Invoke(plan);

        var state = new CollectionPass(model, blocks, settings, census, plan);
        if (PairBareForward) state.BareRequest = new ForwardRequest([ForwardRequest.ResidPost(layers.Max())]);
        if (resume is not null)
        {
            state.Read(resume, CheckpointFormat);
            resume.Dispose();
        }

        var reader = new CorpusReader(corpus);
        var batcher = new WindowBatcher(settings.BatchWindows);
        long sinceCheckpoint = 0;
        var checkpointTime = TimeSpan.Zero;
        byte[] Save(byte[]? previous)
        {
            var clock = Stopwatch.StartNew();
            var saved = Checkpoint(store, stage, files, state, previous, plan.CheckpointBytes);
            checkpointTime += clock.Elapsed;
            return saved;
        }
        // Every shard forms the batches one worker would (it tokenizes the whole corpus, which costs little next to the
        // forward pass) and runs only its own, so each window runs in the same batch at the same position as in one pass.
        void Run(List<TokenWindow> batch)
        {
            if (shard is not { } s || s.Runs(state.Batches)) state.Process(batch);
            else state.Skip(batch);
        }
        foreach (var document in CorpusCensus.Read(reader, model.Tokenizer, settings, state.Documents, state.Tokens, _ => { }))
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (var tokens in document.Windows)
            {
                state.Tokens += tokens.Length;
                sinceCheckpoint++;
                if (batcher.Add(new TokenWindow(state.WindowsCut++, tokens)) is { } batch) Run(batch);
            }
            state.Documents = document.Index + 1;
            progress?.Invoke(new CollectionProgress(state.Tokens, state.WindowsCut, state.Documents, reader.BytesRead, reader.TotalBytes, settings.MaxTokens));
            if (sinceCheckpoint >= settings.CheckpointWindows && !document.Full)
            {
                // Batches are flushed only here, at the same points in every run, so a resumed run
                // sees exactly the batches an uninterrupted one does.
                foreach (var pending in batcher.Flush()) Run(pending);
                if (existing is null) store.PutManifest(existing = Manifest(toolVersion));
                marker = Save(marker);
                sinceCheckpoint = 0;
            }
        }
        foreach (var pending in batcher.Flush()) Run(pending);

        var finish = Stopwatch.StartNew();
        if (existing is null) store.PutManifest(Manifest(toolVersion));
        // The pass's final state, so a run killed while writing resumes straight to the writing.
        if (sinceCheckpoint > 0 || marker is null) marker = Save(marker);
        var summary = new CollectionSummary(layers.Count, UnitCount, state.Documents, state.WindowsSeen, state.Tokens,
            census.SkippedLines, resume is not null, false, clock.Elapsed, state.Forward, state.Bookkeeping, finish.Elapsed, state.PeakKeptWindows)
        {
            Plan = plan, CensusTime = censusTime, Shard = shard, BareForwardTime = state.BareForward,
        };
        // A shard's state waits in its checkpoint for the last shard, which merges them all.
        if (shard is { } finished && !store.FinishShard(finished.Index, finished.Count)) return summary;
        var others = shard is { } mine ? Enumerable.Range(0, mine.Count).Where(i => i != mine.Index).Select(i => new CorpusShard(i, mine.Count)).ToList() : [];
        foreach (var other in others) state.Merge(ReadShard(store, other, census, plan));
        var times = Finish(store, state, plan);
        foreach (var done in others.Select(s => s.Stage(CheckpointStage)).Append(stage))
        {
            store.DeleteCheckpoint(done);
            new CheckpointFile(CheckpointDirectory(store), done).DeleteOthers(null);
        }
        return summary with
        {
            Elapsed = clock.Elapsed, FinishTime = finish.Elapsed, RecomputeTime = times.RecordPass.Forward, RecomputedWindows = times.RecordPass.WindowsRun,
            MergedShards = others.Count + (shard is null ? 0 : 1), CheckpointTime = checkpointTime,
            TablesTime = times.Tables, WeightViewsTime = times.WeightViews, RecordsTime = times.Records - times.RecordPass.Forward,
        };
    }

    /// <summary>The final state another corpus shard left in its checkpoint.</summary>
    CollectionPass ReadShard(ICollectionOutput store, CorpusShard shard, CorpusCensus census, MemoryPlan plan)
    {
        string stage = shard.Stage(CheckpointStage);
        var marker = store.GetCheckpoint(stage)
            ?? throw new NeuronExplainerException($"corpus shard {shard} is recorded as finished but its state ({stage}) is not in {store.Location}; collect that shard again");
        using var reader = new CheckpointFile(CheckpointDirectory(store), stage).Open(marker);
        CollectionPass.ReadHeader(reader, CheckpointFormat, manifestSettings);
        var state = new CollectionPass(model, blocks, settings, census, plan);
        state.Read(reader, CheckpointFormat);
        return state;
    }

    /// <summary>
    /// Checkpoints go to <see cref="CollectionSettings.CheckpointDirectory"/> when given, else beside the store's file. A
    /// store on a server (a URL such as postgresql://) has no directory: its checkpoints then stay on the collecting
    /// machine, in this user's local data directory under a hash of the location.
    /// </summary>
    string CheckpointDirectory(ICollectionOutput store)
    {
        if (settings.CheckpointDirectory is { } given) return Directory.CreateDirectory(given).FullName;
        if (!store.Location.Contains("://", StringComparison.Ordinal)) return Path.GetDirectoryName(Path.GetFullPath(store.Location))!;
        string key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(store.Location)))[..16];
        return Directory.CreateDirectory(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "neuron-explainer", "checkpoints", key)).FullName;
    }

    byte[] Checkpoint(ICollectionOutput store, string stage, CheckpointFile files, CollectionPass state, byte[]? previous, long expectedBytes)
    {
        var marker = files.Write(previous, expectedBytes, writer => state.Write(writer, CheckpointFormat, manifestSettings));
        store.PutCheckpoint(stage, marker);
        files.DeleteOthers(marker);
        return marker;
    }

    /// <summary>
    /// Collects what the last step dropped (a layer's maxima and sums, the weight views' scratch, a finished group's
    /// windows) and returns it to the system before the next step allocates. Without it the runtime let that garbage
    /// pile up while the second pass allocated its blocks, and the process's peak was the two phases' sum (about
    /// 0.5 GiB over the plan for GPT-2 small). A full blocking collection of a heap of a few GiB costs well under a
    /// second, a few times per collection.
    /// </summary>
    static void ReleaseDropped()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>
    /// Writes token tables and weight views layer by layer, then the records, group by group after the second
    /// pass recomputes the windows they need. The checkpoint stays until the last write, so a store is never
    /// taken as complete while it is half written.
    /// </summary>
    FinishTimes Finish(ICollectionOutput store, CollectionPass state, MemoryPlan plan)
    {
        var tables = new Stopwatch();
        var views = new Stopwatch();
        var tokenizer = model.Tokenizer;
        var strings = new string[model.Info.VocabSize];
        string TokenString(int id) => strings[id] ??= tokenizer.TokenString(id);
        var weights = sources[0].Kind == UnitKind.Neuron && settings.WeightViews ? new WeightViews(model, settings.TokenTableSize, settings.ConnectionCount, layers) : null;
        foreach (var sampler in state.Samplers)
        {
            tables.Start();
            sampler.Summarize(state.WindowsSeen, (n, sums) =>
                store.PutActivationBasedTokens(sampler.Block.Id(n), sampler.BuildTokenTable(sums, state.TableTokens, state.TokenCounts, TokenString)));
            tables.Stop();
            views.Start();
            if (weights is not null)
            {
                var tokenWeights = weights.TokenWeights(sampler.Layer, TokenString);
                var connections = weights.Connections(sampler.Layer);
                for (int n = 0; n < sampler.Width; n++)
                {
                    var id = sampler.Block.Id(n);
                    store.PutWeightBasedTokens(id, tokenWeights[n]);
                    store.PutConnections(id, connections[n]);
                }
            }
            else if (sampler.Block.Units.Sae is { DecodesIntoResidualStream: true } sae && settings.WeightViews)
            {
                // An SAE of a residual-stream-wide hook writes its decoder direction into the residual stream: its
                // output tokens are W_dec @ W_U, as a neuron's are c_proj @ W_U. (hook_z SAEs decode into head space.)
                var outputs = WeightViews.OutputTokens(model, sae.ReadDecoder(), sae.Config.LatentCount, settings.TokenTableSize, TokenString);
                for (int n = 0; n < sampler.Width; n++) store.PutWeightBasedTokens(sampler.Block.Id(n), outputs[n]);
            }
            views.Stop();
            ReleaseDropped();
        }
        var records = Stopwatch.StartNew();
        var recordPass = new RecordPass(model, settings);
        foreach (var group in plan.Groups)
        {
            ReleaseDropped();
            var samplers = group.Select(i => state.Samplers[i]).ToArray();
            var recomputed = recordPass.Run(samplers, state.Shared, state.Kept);
            // The records need no forward pass: the hook buffers (a batch of every layer's units) go before they are made.
            model.ReleaseBuffers();
            ReleaseDropped();
            foreach (var sampler in samplers)
            {
                for (int first = 0; first < sampler.Width; first += MemoryPlanner.RecordChunk)
                    store.PutNeuronRecords(Enumerable.Range(first, Math.Min(MemoryPlanner.RecordChunk, sampler.Width - first))
                        .Select(n => sampler.BuildRecord(n, state.Shared, recomputed, state.Kept, TokenString))
                        .Select(r => r with { NeuronId = sampler.Block.Id(r.NeuronId.NeuronIndex) }).ToArray());
                sampler.Top.ReleaseRecomputed(plan.KeepTopActivations);
                // Its shared windows too, and given back before the next layer's records pile up garbage on top of them.
                recomputed.Release(sampler);
                ReleaseDropped();
            }
        }
        store.MarkCollectionComplete();
        return new FinishTimes(tables.Elapsed, views.Elapsed, records.Elapsed, recordPass);
    }
}
