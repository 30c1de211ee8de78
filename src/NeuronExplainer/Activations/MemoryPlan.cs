using System.Globalization;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>One item of a memory plan: what it is, in what precision, and its bytes.</summary>
public sealed record PlanItem(string What, long Bytes);

/// <summary>
/// How a collection fits its memory budget, decided from the model, the settings and the corpus census before
/// any forward pass: whether top-K activations are kept during the pass (else recomputed after it), and how the
/// blocks of units (layers, or SAEs) are grouped for the second, short pass that recomputes the windows the records need;
/// <see cref="Groups"/> holds indices into the collection's blocks.
/// </summary>
public sealed record MemoryPlan(
    long Budget, bool KeepTopActivations, IReadOnlyList<IReadOnlyList<int>> Groups, int TableTokens,
    IReadOnlyList<PlanItem> PassItems, IReadOnlyList<PlanItem> RecordItems, long CheckpointBytes, long RecomputedWindows)
{
    /// <summary>What a group holds: layers (of MLP neurons or heads), or SAEs.</summary>
    public string Block { get; init; } = "layer";

    public long PassBytes => PassItems.Sum(i => i.Bytes);

    public long RecordBytes => RecordItems.Sum(i => i.Bytes);

    /// <summary>The plan as lines for the console.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"memory budget {MemoryPlanner.Size(Budget)} (CollectionSettings.MemoryBudget); all values float32";
        yield return $"pass 1 (all {Block}s at once): {MemoryPlanner.Size(PassBytes)}";
        foreach (var item in PassItems) yield return $"  {MemoryPlanner.Size(item.Bytes),10}  {item.What}";
        yield return $"pass 2 ({Groups.Count} {Block} group{(Groups.Count == 1 ? "" : "s")} of up to {Groups.Max(g => g.Count)} {Block}s, recomputing up to {RecomputedWindows:N0} windows each): {MemoryPlanner.Size(RecordBytes)}";
        foreach (var item in RecordItems) yield return $"  {MemoryPlanner.Size(item.Bytes),10}  {item.What}";
        yield return $"checkpoint file beside the store: {MemoryPlanner.Size(CheckpointBytes)} (no spill during the pass)";
    }
}

/// <summary>
/// Computes a <see cref="MemoryPlan"/>, or refuses with the numbers and the options that would make one fit.
/// Every array the collection allocates in proportion to neurons, windows or vocabulary is counted; the
/// model's own weights are outside the budget (the default budget is what the runtime has left after loading it).
/// </summary>
public static class MemoryPlanner
{
    /// <summary>Records built and encoded at a time while writing a layer.</summary>
    public const int RecordChunk = 256;

    /// <summary>Per kept window: its token ids plus the dictionary entry and array header that hold them.</summary>
    const int WindowOverhead = 64;

    /// <summary>
    /// The default budget: three quarters of what the runtime may still allocate (its limit respects container
    /// limits and DOTNET_GCHeapHardLimit), leaving room for the runtime, SQLite and transient buffers.
    /// </summary>
    public static long DefaultBudget()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - GC.GetTotalMemory(false);
        return Math.Max(0, available / 4 * 3);
    }

    /// <param name="units">The units collected; MLP neurons by default.</param>
    internal static MemoryPlan Plan(ModelInfo model, IReadOnlyList<int> layers, CollectionSettings settings, CorpusCensus census, long budget, bool? keepTopActivations = null,
        UnitSource? units = null) =>
        Plan(model, layers.Select(l => new UnitBlock(units ?? UnitSource.MlpNeurons(model), l)).ToArray(), settings, census, budget, keepTopActivations);

    /// <param name="blocks">The units collected, one sampler's each (a layer's MLP neurons or heads, or one SAE's latents), all
    /// of one kind. SAEs add their encoders and buffers to the hook buffers, and their decoders' output-token view
    /// replaces the MLP weight views.</param>
    internal static MemoryPlan Plan(ModelInfo model, IReadOnlyList<UnitBlock> blocks, CollectionSettings settings, CorpusCensus census, long budget, bool? keepTopActivations = null)
    {
        var units = blocks[0].Units;
        int s = settings.SequenceLength, k = settings.TopK, rows = s + (model.PrependsBos ? 1 : 0), widest = blocks.Max(b => b.Width);
        long n = blocks.Sum(b => (long)b.Width);
        // The plan's lines name the units as the store will: neurons, latents, heads; and the blocks: layers or SAEs.
        string unit = units.Kind switch { UnitKind.SaeLatent => "latents", UnitKind.AttentionHead => "heads", _ => "neurons" };
        string block = units.Kind == UnitKind.SaeLatent ? "SAE" : "layer";
        long windows = census.Windows;
        int tableTokens = census.TokensSeenAtLeast(settings.MinTokenCount).Length;
        long maximaRows = Math.Min(windows, SharedSamples.MaximaSampleSize);
        long shared = Math.Min(windows, settings.RandomSamples + settings.QuantilePoolSize);
        long keptWindows = Math.Min(windows, n * k + shared);
        long topActivations = n * k * s * 4;

        var saes = blocks.Where(b => b.Units.Sae is not null).ToList();
        bool heads = units.Kind == UnitKind.AttentionHead;
        long batchRows = (long)settings.BatchWindows * rows;
        PlanItem hooks;
        if (heads)
            hooks = new PlanItem($"attn.hook_z buffers: CollectionSettings.BatchWindows {settings.BatchWindows} x {rows} rows x {blocks.Count} layers x {model.HeadCount * model.HeadDim} (heads x d_head), and the head norms' ({n:N0} heads, one head's output rows)",
                4 * batchRows * model.HeadCount * model.HeadDim * blocks.Count + units.Encoder!.BufferBytes(batchRows));
        else if (saes.Count == 0)
            hooks = new PlanItem($"hook buffers: CollectionSettings.BatchWindows {settings.BatchWindows} x {rows} rows x {n:N0} {unit}", 4 * batchRows * n);
        else
        {
            // Each SAE has its encoder and buffers (its latents and a copy of its input); the model fills each hook once.
            long inputs = saes.Sum(b => (long)b.Units.Sae!.Config.InputDim), hookWidth = saes.GroupBy(b => b.Hook).Sum(g => (long)g.First().Units.Sae!.Config.InputDim);
            int hookCount = saes.Select(b => b.Hook).Distinct().Count();
            hooks = new PlanItem($"SAE encoders ({string.Join(", ", saes.Select(b => $"{b.Units.SaeId} {b.Units.Sae!.Config.InputDim} x {b.Width:N0}"))}) and their buffers: CollectionSettings.BatchWindows {settings.BatchWindows} x {rows} rows x ({n:N0} latents + {inputs:N0} inputs copied + {hookWidth:N0} of the model's {hookCount} hook{(hookCount == 1 ? "" : "s")})",
                saes.Sum(b => b.Units.Sae!.EncoderBytes + b.Units.Encoder!.BufferBytes(batchRows)) + 4L * batchRows * hookWidth);
        }
        // SAEs' output tokens are written one SAE at a time, so the largest view counts.
        var views = heads
            ? new PlanItem("weight-based views: none for attention heads", 0)
            : !settings.WeightViews
            ? new PlanItem("weight-based views: left out (CollectionSettings.WeightViews)", 0)
            : saes.Count == 0
            ? new PlanItem("weight-based views, written after the pass: gain-folded rows of a layer, a score block, running selections", WeightViews.WorkBytes(model, blocks.Count, settings.TokenTableSize, settings.ConnectionCount))
            : new PlanItem("decoder output tokens, written after the pass one SAE at a time: W_dec, gain-folded rows, a score block, running selections",
                saes.Where(b => b.Units.Sae!.DecodesIntoResidualStream).Select(b => WeightViews.OutputTokenBytes(model, b.Width, settings.TokenTableSize)).DefaultIfEmpty(0).Max());
        var pass = new List<PlanItem>
        {
            hooks,
            new($"top-K window ids and keys: {n:N0} {unit} x CollectionSettings.TopK {k}", n * k * 16),
            new($"maxima sample: {n:N0} {unit} x {maximaRows:N0} shared windows", n * maximaRows * 4),
            new($"token lookup sums: {n:N0} {unit} x {tableTokens:N0} tokens seen >= CollectionSettings.MinTokenCount {settings.MinTokenCount} times", n * tableTokens * 4),
            new("moments, window extremes, scratch", n * 80),
            new($"token ids of kept windows: at most {keptWindows:N0} windows", keptWindows * (s * 4 + WindowOverhead)),
            views,
        };
        long passBytes = pass.Sum(i => i.Bytes);
        if ((long)tableTokens * widest > Array.MaxLength)
            throw new NeuronExplainerException($"{tableTokens:N0} tokens seen at least CollectionSettings.MinTokenCount {settings.MinTokenCount} times x {widest:N0} {unit} exceed one {block}'s table of sums; raise CollectionSettings.MinTokenCount");
        if (passBytes > budget) throw Refusal(pass, passBytes, budget, settings, census, n, tableTokens, block);

        // What stays from pass 1 while records are made (maxima and sums are dropped once summarised).
        long recordChunk = (long)Math.Min(RecordChunk, widest) * (k + settings.RandomSamples + settings.Quantiles * settings.PerQuantile) * s * 24;
        // The model keeps every hook buffer it has filled, so the first pass's stay allocated.
        long Live(bool kept) => pass[0].Bytes + pass[1].Bytes + pass[4].Bytes + pass[5].Bytes + (kept ? topActivations : 0);
        // Heads rerun every top window for its attention pattern (kept activations or not) and keep each window's sources.
        long sourceWindows = Math.Min(windows, (long)units.Width * k + shared);
        long headLayerBytes = heads ? sourceWindows * HeadSources.WindowBytes(units.Width, s) + 4L * settings.BatchWindows * units.Width * rows * rows : 0;
        long BlockBytes(UnitBlock b, bool kept) => shared * s * b.Width * 4L + (kept ? 0 : (long)b.Width * k * (s * 4 + 16)) + headLayerBytes;
        // Keep top-K activations in the pass when they and at least the largest block's second pass fit: the second
        // pass then recomputes only the shared windows, not every top window.
        bool keep = keepTopActivations ?? (passBytes + topActivations <= budget && Live(true) + recordChunk + blocks.Max(b => BlockBytes(b, true)) <= budget);
        if (keep)
        {
            pass.Add(new($"top-K activations kept: {n:N0} {unit} x {k} windows x {s} tokens", topActivations));
            passBytes += topActivations;
            if (passBytes > budget) throw Refusal(pass, passBytes, budget, settings, census, n, tableTokens, block);
        }
        long live = Live(keep), largest = blocks.Max(b => BlockBytes(b, keep)), room = budget - live - recordChunk;
        if (room < largest)
            throw new NeuronExplainerException(
                $"the second pass needs {Size(live + recordChunk + largest)} for one {block} ({Size(live)} kept from the first pass, {Size(largest)} for the largest {block}, {Size(recordChunk)} of records in the making), more than the memory budget of {Size(budget)}; raise CollectionSettings.MemoryBudget or {FewerBlocks(block)}");
        // Blocks in order, as many to a group as fit.
        var groups = new List<IReadOnlyList<int>>();
        var current = new List<int>();
        long filled = 0;
        for (int i = 0; i < blocks.Count; i++)
        {
            long bytes = BlockBytes(blocks[i], keep);
            if (current.Count > 0 && filled + bytes > room)
            {
                groups.Add(current);
                (current, filled) = ([], 0);
            }
            current.Add(i);
            filled += bytes;
        }
        groups.Add(current);
        long groupUnits = groups.Max(g => g.Sum(i => (long)blocks[i].Width));
        int groupBlocks = groups.Max(g => g.Count);
        var record = new List<PlanItem>
        {
            new($"random and pool windows: {shared:N0} windows x {s} tokens x {groupUnits:N0} {unit}", shared * s * groupUnits * 4L),
        };
        if (heads)
            record.Add(new($"attention sources: {groupBlocks} layers x at most {sourceWindows:N0} windows x {s} tokens x {units.Width} heads x {AttentionSources.Count} (position, weight), and attn.hook_pattern buffers ({settings.BatchWindows} x {units.Width} x {rows} x {rows})",
                headLayerBytes * groupBlocks));
        if (!keep) record.Add(new($"top-K activations recomputed: {groupUnits:N0} {unit} x {k} windows x {s} tokens (and their index)", groupUnits * k * (s * 4 + 16)));
        record.Add(new("kept from pass 1 (hook buffers, window ids and keys, moments, window tokens" + (keep ? ", top-K activations)" : ")"), live));
        record.Add(new($"records in the making: {Math.Min(RecordChunk, widest)} at a time", recordChunk));

        long checkpoint = pass.Where((_, i) => i is not (0 or 5 or 6)).Sum(i => i.Bytes) + keptWindows * s * 4;
        return new MemoryPlan(budget, keep, groups, tableTokens, pass, record, checkpoint, keep && !heads ? shared : Math.Min(windows, shared + groupUnits * k)) { Block = block };
    }

    /// <summary>The advice to collect less at a time: fewer layers, or fewer SAEs.</summary>
    static string FewerBlocks(string block) => block == "SAE" ? "collect fewer SAEs at a time" : "collect fewer CollectionSettings.Layers at a time";

    static NeuronExplainerException Refusal(List<PlanItem> items, long bytes, long budget, CollectionSettings settings, CorpusCensus census, long neurons, int tableTokens, string block)
    {
        var largest = items.OrderByDescending(i => i.Bytes).Take(3).Select(i => $"{Size(i.Bytes)} {i.What}");
        var advice = new List<string> { "raise CollectionSettings.MemoryBudget", FewerBlocks(block) };
        long allowed = budget - (bytes - items[3].Bytes);
        if (items[3].Bytes > 0 && allowed > 0)
        {
            // The smallest CollectionSettings.MinTokenCount whose sums fit: at most `room` tokens may keep a row.
            long room = allowed / (neurons * 4);
            var counts = census.TokenCounts.OrderDescending().ToArray();
            if (room < tableTokens) advice.Add($"CollectionSettings.MinTokenCount {counts[room] + 1} (keeps at most {room:N0} of the {tableTokens:N0} tokens)");
        }
        if (settings.BatchWindows > 1 && items[0].Bytes > budget / 4) advice.Add("a smaller CollectionSettings.BatchWindows");
        return new NeuronExplainerException(
            $"collection needs {Size(bytes)} for its first pass, more than the memory budget of {Size(budget)} (largest: {string.Join("; ", largest)}); {string.Join(", or ", advice)}");
    }

    /// <summary>Bytes in binary units, e.g. 1.5 GiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    /// <summary>Parses a size such as 6G, 512M, 1.5GiB or a plain byte count.</summary>
    public static long ParseSize(string text, string setting)
    {
        var t = text.Trim();
        int end = t.Length;
        while (end > 0 && char.IsLetter(t[end - 1])) end--;
        string unit = t[end..].ToUpperInvariant().Replace("IB", "").Replace("B", "");
        long scale = unit switch { "" => 1, "K" => 1L << 10, "M" => 1L << 20, "G" => 1L << 30, "T" => 1L << 40, _ => 0 };
        if (scale == 0 || !double.TryParse(t[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value <= 0 || value * scale > long.MaxValue)
            throw new SettingException(setting, $"'{text}' is not a size; expected e.g. 6G, 512M or a byte count");
        return (long)(value * scale);
    }
}
