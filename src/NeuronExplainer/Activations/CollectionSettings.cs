using System.Globalization;

namespace NeuronExplainer.Activations;

/// <summary>What to collect. Every field that changes the records is part of the store's manifest.</summary>
public sealed record CollectionSettings
{
    /// <summary>Layers to collect; null means all.</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    public int SequenceLength { get; init; } = 64;
    public int TopK { get; init; } = 40;
    public int RandomSamples { get; init; } = 40;
    public int Quantiles { get; init; } = 5;
    public int PerQuantile { get; init; } = 10;
    /// <summary>Stop after this many tokens (whole windows only); null reads the whole corpus.</summary>
    public long? MaxTokens { get; init; }
    public ulong Seed { get; init; }
    /// <summary>A token needs this many occurrences to enter a neuron's token lookup table.</summary>
    public int MinTokenCount { get; init; } = 5;
    /// <summary>Tokens listed per neuron in each token table and weight-based token list.</summary>
    public int TokenTableSize { get; init; } = 50;
    /// <summary>Neurons listed per direction and sign in the weight-based connections.</summary>
    public int ConnectionCount { get; init; } = 20;
    /// <summary>
    /// Whether the weight-based views (input/output tokens, connections; an SAE's decoder output tokens) are computed after
    /// the pass. They cost O(L·w·V·d + L²·w²·d/2), independent of the corpus: about 250 TFLOP for GPT-2 XL, hours on a CPU,
    /// longer than collecting a short corpus, so a user may leave them out.
    /// </summary>
    public bool WeightViews { get; init; } = true;
    /// <summary>Windows per forward pass.</summary>
    public int BatchWindows { get; init; } = 32;
    /// <summary>Windows between checkpoints (taken at the next document boundary).</summary>
    public int CheckpointWindows { get; init; } = 2048;

    /// <summary>
    /// Where checkpoint and shard-state files go; null: beside a store's file, or for a store on a server (postgresql://)
    /// in this user's local data directory. Corpus shards of one collection run on several machines need a directory
    /// all of them see (one per store), since the shard that merges reads every shard's state from it.
    /// </summary>
    public string? CheckpointDirectory { get; init; }
    /// <summary>
    /// Bytes the collection's state may use (--memory); null: <see cref="MemoryPlanner.DefaultBudget"/>. It
    /// changes how the work is split, never the records, so it is not part of the manifest.
    /// </summary>
    public long? MemoryBudget { get; init; }

    /// <summary>
    /// This worker's share of a collection split across workers (--corpus-shard I/N): it runs the forward pass on batches
    /// I, I + N, I + 2N, ... of the batches one worker would form, and the last shard to finish merges every shard's state
    /// and writes the records. Null: the whole corpus. Not part of the manifest, which every shard shares.
    /// </summary>
    public CorpusShard? CorpusShard { get; init; }

    /// <summary>
    /// The pool from which quantile samples are drawn: twice what the bins need, so that each bin
    /// (holding 1/Q of the windows) receives about 2 x PerQuantile candidates.
    /// </summary>
    public int QuantilePoolSize => 2 * Quantiles * PerQuantile;

    /// <summary>Checks every value against the model; returns the layers to collect.</summary>
    public IReadOnlyList<int> Validate(Models.ModelInfo model)
    {
        int context = model.MaxContext - (model.PrependsBos ? 1 : 0);
        Require(SequenceLength >= 2 && SequenceLength <= context, nameof(SequenceLength), SequenceLength, $"2..{context} (the model's context{(model.PrependsBos ? " less one for BOS" : "")})");
        Require(TopK is >= 1 and <= 10_000, nameof(TopK), TopK, "1..10000");
        Require(RandomSamples is >= 1 and <= 10_000, nameof(RandomSamples), RandomSamples, "1..10000");
        Require(Quantiles is >= 2 and <= 100, nameof(Quantiles), Quantiles, "2..100");
        Require(PerQuantile is >= 1 and <= 1_000, nameof(PerQuantile), PerQuantile, "1..1000");
        Require(MinTokenCount >= 1, nameof(MinTokenCount), MinTokenCount, "at least 1");
        Require(TokenTableSize is >= 1 and <= 10_000, nameof(TokenTableSize), TokenTableSize, "1..10000");
        Require(ConnectionCount is >= 1 and <= 10_000, nameof(ConnectionCount), ConnectionCount, "1..10000");
        Require(BatchWindows is >= 1 and <= 4096, nameof(BatchWindows), BatchWindows, "1..4096");
        Require(CheckpointWindows >= 1, nameof(CheckpointWindows), CheckpointWindows, "at least 1");
        if (CorpusShard is { } shard && (shard.Count is < 1 or > 65_536 || shard.Index < 0 || shard.Index >= shard.Count))
            throw SettingException.Of<CollectionSettings>(nameof(CorpusShard), $"is {shard}; expected I/N with 0 <= I < N (N at most 65536)");
        if (MaxTokens is { } max && max < SequenceLength)
            throw SettingException.Of<CollectionSettings>(nameof(MaxTokens), $"{max} is below one window of {SequenceLength} tokens; expected at least {SequenceLength}");
        var layers = Layers ?? Enumerable.Range(0, model.LayerCount).ToArray();
        if (layers.Count == 0) throw SettingException.Of<CollectionSettings>(nameof(Layers), "selects no layer; expected e.g. 0,3-5 or all");
        foreach (int layer in layers)
            if (layer < 0 || layer >= model.LayerCount)
                throw SettingException.Of<CollectionSettings>(nameof(Layers), $"names layer {layer} but {model.Name} has layers 0..{model.LayerCount - 1}");
        return layers;
    }

    static void Require(bool ok, string setting, long value, string expected)
    {
        if (!ok) throw SettingException.Of<CollectionSettings>(setting, $"is {value}; expected {expected}");
    }

    /// <summary>The settings as manifest entries (prefixed "collect."); two collections mix only if these are equal.</summary>
    public IReadOnlyDictionary<string, string> ToManifest(IReadOnlyList<int> layers, CorpusOptions corpus)
    {
        var manifest = new SortedDictionary<string, string>
        {
            ["collect.layers"] = string.Join(',', layers),
            ["collect.seq_len"] = Invariant(SequenceLength),
            ["collect.top_k"] = Invariant(TopK),
            ["collect.random"] = Invariant(RandomSamples),
            ["collect.quantiles"] = Invariant(Quantiles),
            ["collect.per_quantile"] = Invariant(PerQuantile),
            ["collect.max_tokens"] = MaxTokens is { } max ? Invariant(max) : "all",
            ["collect.seed"] = Seed.ToString(CultureInfo.InvariantCulture),
            ["collect.min_token_count"] = Invariant(MinTokenCount),
            ["collect.token_table_size"] = Invariant(TokenTableSize),
            ["collect.connection_count"] = Invariant(ConnectionCount),
            ["collect.batch"] = Invariant(BatchWindows),
            ["collect.checkpoint_every"] = Invariant(CheckpointWindows),
            ["collect.separator"] = corpus.Separator.ToString(),
            ["collect.text_field"] = corpus.TextField,
        };
        // Written only when left out, so stores collected before the setting existed keep their manifest.
        if (!WeightViews) manifest["collect.weight_views"] = "none";
        return manifest;
    }

    static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Shard <see cref="Index"/> (from 0) of <see cref="Count"/> of a collection's corpus, spelled I/N.</summary>
public readonly record struct CorpusShard(int Index, int Count)
{
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>Parses I/N; null when <paramref name="text"/> is not two whole numbers so spelled.</summary>
    public static CorpusShard? TryParse(string text) =>
        text.Split('/') is [var i, var n] && int.TryParse(i, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            && int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int count) ? new CorpusShard(index, count) : null;

    /// <summary>Whether this shard runs batch number <paramref name="batch"/>.</summary>
    public bool Runs(long batch) => batch % Count == Index;

    /// <summary>The checkpoint stage of this shard's state.</summary>
    public string Stage(string collection) => $"{collection}-shard-{Index}-of-{Count}";
}
