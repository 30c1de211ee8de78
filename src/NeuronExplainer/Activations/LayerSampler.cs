using System.Globalization;
using System.Numerics.Tensors;

namespace NeuronExplainer.Activations;

/// <summary>
/// The one-pass state of every neuron of one layer: top-K windows by max activation (a bounded min-heap per
/// neuron), the neuron's max on each window of the shared maxima sample (for the quantile boundaries), the
/// exact lowest and highest window max, moments over all tokens, and per-token activation sums for the
/// token lookup table (only for the tokens the census counted often enough). For sparse units (SAE latents) also how
/// many tokens each one fires on (its density), and their random sample comes from windows where they do not fire.
/// </summary>
sealed class LayerSampler
{
    const ulong QuantilePickStream = 4;
    const ulong QuietPickStream = 5;

    readonly int layer, width, maximaRows;
    readonly string hookName;
    /// <summary>Tokens each unit fired on (activation above 0), for sparse units; null for neurons.</summary>
    readonly long[]? fires;
    long tokensSeen;
    readonly CollectionSettings settings;
    readonly WindowSlots top;
    readonly int[] heap;
    readonly int[] heapCount;
    readonly float[] lowestMax, highestMax;
    readonly float[] windowMax;
    float[]? maxima;
    float[]? tokenSums;
    double[]? boundaries;

    /// <param name="block">The units: a source's units at one layer (their width, hook and kind).</param>
    /// <param name="maximaRows">Windows in the shared maxima sample: at most <see cref="SharedSamples.MaximaSampleSize"/>.</param>
    /// <param name="tableTokens">Tokens that have a row of sums (counted at least --min-token-count times).</param>
    public LayerSampler(UnitBlock block, int maximaRows, int tableTokens, bool keepTopActivations, CollectionSettings settings)
    {
        Block = block;
        layer = block.Layer;
        width = block.Width;
        hookName = block.Hook;
        // Sparse units (SAE latents) count firing tokens and sample random excerpts where they are quiet.
        fires = block.Units.Kind == UnitKind.SaeLatent ? new long[width] : null;
        this.maximaRows = maximaRows;
        this.settings = settings;
        top = new WindowSlots(width, settings.TopK, settings.SequenceLength, keepTopActivations);
        heap = new int[width * settings.TopK];
        heapCount = new int[width];
        maxima = new float[maximaRows * width];
        lowestMax = new float[width];
        lowestMax.AsSpan().Fill(float.PositiveInfinity);
        highestMax = new float[width];
        highestMax.AsSpan().Fill(float.NegativeInfinity);
        tokenSums = new float[(long)tableTokens * width];
        windowMax = new float[width];
        Moments = new RunningMoments(width);
    }

    /// <summary>The units this sampler keeps.</summary>
    public UnitBlock Block { get; }

    public int Layer => layer;

    public int Width => width;

    public int TopK => settings.TopK;

    public WindowSlots Top => top;

    public RunningMoments Moments { get; }

    /// <summary>
    /// Adds one forward batch. <paramref name="hook"/> is [windows, rowsPerWindow, width]; window b's tokens are
    /// rows <c>b * rowsPerWindow + offset</c> onwards (offset 1 skips a BOS context token). <paramref name="firstItem"/>
    /// is how many windows were seen before this batch; <paramref name="tableRow"/> maps a token id to its row of
    /// sums (-1: none).
    /// </summary>
    public void Add(ReadOnlySpan<float> hook, IReadOnlyList<TokenWindow> windows, int rowsPerWindow, int offset,
        IReadOnlyList<int> tokenRows, long firstItem, int[] tableRow, SharedSamples shared, WindowTokens kept)
    {
        var sums = tokenSums ?? throw new InvalidOperationException("the layer's sums were released");
        var sample = maxima!;
        for (int b = 0; b < windows.Count; b++)
        {
            var window = windows[b];
            int firstRow = b * rowsPerWindow + offset;
            windowMax.AsSpan().Fill(float.NegativeInfinity);
            for (int t = 0; t < window.Tokens.Length; t++)
            {
                var row = hook.Slice((firstRow + t) * width, width);
                TensorPrimitives.Max(windowMax, row, windowMax);
                if (fires is not null)
                    for (int n = 0; n < width; n++)
                        if (row[n] > 0) fires[n]++;
                if (tableRow[window.Tokens[t]] is var r and >= 0)
                {
                    var target = sums.AsSpan((int)((long)r * width), width);
                    TensorPrimitives.Add(target, row, target);
                }
            }
            long item = firstItem + b;
            if (shared.MaximaSlot(item) is var slot and >= 0) windowMax.CopyTo(sample.AsSpan(slot * width, width));
            TensorPrimitives.Min(lowestMax, windowMax, lowestMax);
            TensorPrimitives.Max(highestMax, windowMax, highestMax);
            for (int n = 0; n < width; n++)
            {
                float key = windowMax[n];
                if (!float.IsFinite(key))
                    throw new NeuronExplainerException($"the model produced a non-finite activation ({key}) at {hookName} unit {n} in window {window.Id}; the model weights or the engine are broken");
                AddToTop(n, window, key, hook, firstRow, kept);
            }
        }
        Moments.AddBatch(hook, tokenRows);
        tokensSeen += tokenRows.Count;
    }

    void AddToTop(int n, TokenWindow window, float key, ReadOnlySpan<float> hook, int firstRow, WindowTokens kept)
    {
        if (TopSlot(n, key, window.Id) is not (var slot and >= 0)) return;
        top.Store(n, slot, window, key, hook, firstRow, width, kept);
        SiftTop(n);
    }

    /// <summary>The slot a window goes to in neuron <paramref name="n"/>'s top-K (-1: it does not make it); store it there, then <see cref="SiftTop"/>.</summary>
    int TopSlot(int n, float key, long id)
    {
        int k = settings.TopK, count = heapCount[n];
        if (count < k) return count;
        int worst = heap[n * k];
        return Better(key, id, top.Key(n, worst), top.Id(n, worst)) ? worst : -1;
    }

    /// <summary>Restores neuron <paramref name="n"/>'s heap after a window was stored in the slot <see cref="TopSlot"/> gave.</summary>
    void SiftTop(int n)
    {
        int k = settings.TopK, count = heapCount[n];
        var h = heap.AsSpan(n * k, k);
        if (count < k)
        {
            h[count] = count;
            heapCount[n] = count + 1;
            SiftUp(n, h, count);
        }
        else SiftDown(n, h, k);
    }

    /// <summary>
    /// Takes in the state of the same layer from another corpus shard (its windows numbered as in the whole pass):
    /// top-K by offering its windows to each heap (exact: the ranking is a total order), maxima slot by slot from the
    /// shard whose item is later (exact), lowest and highest maxima (exact), token sums added and moments merged by
    /// Pébay's formulas (equal up to float rounding, since the sums are added in another order), firing counts added
    /// (exact). Call before
    /// <see cref="SharedSamples.Merge"/>.
    /// </summary>
    public void Merge(LayerSampler other, WindowTokens kept, SharedSamples shared, SharedSamples otherShared, WindowTokens otherKept)
    {
        if (other.Block.Hook != Block.Hook || other.width != width)
            throw new InvalidOperationException($"cannot merge {other.Block} ({other.width} units) into {Block} ({width} units)");
        for (int n = 0; n < width; n++)
            foreach (int theirs in other.top.Filled(n))
            {
                if (TopSlot(n, other.top.Key(n, theirs), other.top.Id(n, theirs)) is not (var slot and >= 0)) continue;
                top.StoreFrom(n, slot, other.top, theirs, kept, otherKept);
                SiftTop(n);
            }
        for (int slot = 0; slot < maximaRows; slot++)
            if (shared.LaterMaxima(otherShared, slot)) other.maxima!.AsSpan(slot * width, width).CopyTo(maxima!.AsSpan(slot * width, width));
        TensorPrimitives.Min(lowestMax, other.lowestMax, lowestMax);
        TensorPrimitives.Max(highestMax, other.highestMax, highestMax);
        TensorPrimitives.Add(tokenSums!, other.tokenSums!, tokenSums!);
        Moments.Merge(other.Moments);
        if (fires is not null)
        {
            // Firing counts and tokens add up exactly.
            for (int n = 0; n < width; n++) fires[n] += other.fires![n];
            tokensSeen += other.tokensSeen;
        }
    }

    ulong NeuronKey(int n) => ((ulong)layer << 32) | (uint)n;

    /// <summary>Ranking of windows for the top-K: higher max first, earlier window on ties.</summary>
    static bool Better(float keyA, long idA, float keyB, long idB) => keyA > keyB || (keyA == keyB && idA < idB);

    bool Worse(int n, int slotA, int slotB) => Better(top.Key(n, slotB), top.Id(n, slotB), top.Key(n, slotA), top.Id(n, slotA));

    void SiftUp(int n, Span<int> h, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Worse(n, h[i], h[parent])) break;
            (h[i], h[parent]) = (h[parent], h[i]);
            i = parent;
        }
    }

    void SiftDown(int n, Span<int> h, int count)
    {
        int i = 0;
        while (true)
        {
            int left = 2 * i + 1, right = left + 1, worst = i;
            if (left < count && Worse(n, h[left], h[worst])) worst = left;
            if (right < count && Worse(n, h[right], h[worst])) worst = right;
            if (worst == i) return;
            (h[i], h[worst]) = (h[worst], h[i]);
            i = worst;
        }
    }

    /// <summary>
    /// Ends the pass for this layer: computes every neuron's quantile boundaries, lets <paramref name="table"/>
    /// take each neuron's token lookup table, then drops the maxima and sums, which nothing needs any more.
    /// </summary>
    public void Summarize(long windowsSeen, Action<int, ReadOnlySpan<float>> table)
    {
        int q = settings.Quantiles, rows = (int)Math.Min(windowsSeen, maximaRows);
        boundaries = new double[width * (q + 1)];
        var sample = new float[rows];
        var sums = tokenSums!;
        var column = new float[sums.Length / width];
        for (int n = 0; n < width; n++)
        {
            for (int i = 0; i < rows; i++) sample[i] = maxima![i * width + n];
            Array.Sort(sample);
            var b = boundaries.AsSpan(n * (q + 1), q + 1);
            b[0] = lowestMax[n];
            b[q] = highestMax[n];
            for (int i = 1; i < q; i++)
            {
                double position = (double)i / q * (rows - 1);
                int below = (int)Math.Floor(position), above = Math.Min(below + 1, rows - 1);
                b[i] = sample[below] + (position - below) * (sample[above] - sample[below]);
            }
            for (int r = 0; r < column.Length; r++) column[r] = sums[(long)r * width + n];
            table(n, column);
        }
        maxima = null;
        tokenSums = null;
    }

    /// <summary>
    /// The finished record of neuron <paramref name="n"/>, after <see cref="Summarize"/>; the random and pool
    /// windows' activations come from <paramref name="recomputed"/>, the top windows' from <see cref="Top"/>.
    /// </summary>
    public NeuronRecord BuildRecord(int n, SharedSamples shared, RecomputedWindows recomputed, WindowTokens kept, Func<int, string> tokenString)
    {
        int q = settings.Quantiles;
        var bounds = boundaries!.AsSpan(n * (q + 1), q + 1).ToArray();
        ActivationRecord Record(long window, ReadOnlySpan<float> values)
        {
            var ids = kept.Tokens(window);
            var activations = new double[values.Length];
            for (int i = 0; i < values.Length; i++) activations[i] = ShortestDouble(values[i]);
            return new ActivationRecord(ids.Select(tokenString).ToArray(), activations) { Attended = recomputed.Sources?.Attended(layer, n, window) };
        }
        ActivationRecord Shared(long window) => Record(window, recomputed.Activations(this, n, window, kept.Tokens(window).Length));

        var topSlots = top.Filled(n).OrderByDescending(s => top.Key(n, s)).ThenBy(s => top.Id(n, s));
        var randomWindows = fires is null ? shared.Random.Where(id => id >= 0).Order() : QuietWindows(n, shared, recomputed, kept);
        var byQuantile = QuantileSamples(n, bounds, shared.Pool.Where(id => id >= 0), window => TensorPrimitives.Max(recomputed.Activations(this, n, window, kept.Tokens(window).Length)))
            .Select(bin => (IReadOnlyList<ActivationRecord>)bin.Select(Shared).ToArray()).ToArray();
        var (mean, variance, skewness, kurtosis) = Moments.Summary(n);
        return new NeuronRecord(
            new NeuronId(layer, n),
            randomWindows.Select(Shared).ToArray(),
            byQuantile,
            bounds,
            mean, variance, skewness, kurtosis,
            topSlots.Select(s => Record(top.Id(n, s), top.Activations(n, s, kept.Tokens(top.Id(n, s)).Length))).ToArray())
        {
            Density = fires is null ? null : tokensSeen == 0 ? 0 : fires[n] / (double)tokensSeen,
        };
    }

    /// <summary>
    /// A sparse unit's random sample: up to RandomSamples of the shared random and pool windows on which it never
    /// fires, chosen uniformly (by a seeded hash of unit and window), in window order. A latent that fires on most
    /// windows gets fewer.
    /// </summary>
    IEnumerable<long> QuietWindows(int n, SharedSamples shared, RecomputedWindows recomputed, WindowTokens kept) =>
        shared.Random.Concat(shared.Pool).Where(id => id >= 0).Distinct()
            .Where(w => TensorPrimitives.Max(recomputed.Activations(this, n, w, kept.Tokens(w).Length)) <= 0)
            .OrderBy(w => SampleHash.Below(settings.Seed, QuietPickStream, NeuronKey(n), (ulong)w, long.MaxValue))
            .Take(settings.RandomSamples)
            .Order();

    /// <summary>
    /// The double nearest the float's shortest decimal form: (double)0.1f would be written to JSON as
    /// 0.10000000149011612, twice the text for digits the float never had.
    /// </summary>
    internal static double ShortestDouble(float value)
    {
        Span<char> text = stackalloc char[32];
        value.TryFormat(text, out int length, "R", CultureInfo.InvariantCulture);
        return double.Parse(text[..length], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// For each quantile bin, up to PerQuantile pool windows whose max falls in it, chosen uniformly (by a
    /// seeded hash of neuron and window id), in window order.
    /// </summary>
    List<long>[] QuantileSamples(int n, double[] bounds, IEnumerable<long> pool, Func<long, float> max)
    {
        int q = settings.Quantiles;
        var bins = Enumerable.Range(0, q).Select(_ => new List<long>()).ToArray();
        foreach (long window in pool)
        {
            float key = max(window);
            int bin = q - 1;
            while (bin > 0 && key < bounds[bin]) bin--;
            bins[bin].Add(window);
        }
        return bins.Select(bin => bin
            .OrderBy(w => SampleHash.Below(settings.Seed, QuantilePickStream, NeuronKey(n), (ulong)w, long.MaxValue))
            .Take(settings.PerQuantile)
            .Order()
            .ToList()).ToArray();
    }

    /// <summary>
    /// Tokens of a neuron with the highest mean activation among those with a row of sums (seen at least
    /// MinTokenCount times), highest first.
    /// </summary>
    public TokenLookupTableSummaryOfNeuron BuildTokenTable(ReadOnlySpan<float> sums, int[] tableTokens, long[] tokenCounts, Func<int, string> tokenString)
    {
        // A bounded insertion list instead of sorting every token: almost every mean falls below the list's last and
        // is rejected by one compare. The order (higher mean, then lower token id) is total, so the list is the sort's head.
        int size = Math.Min(settings.TokenTableSize, sums.Length), filled = 0;
        var chosen = new (int Token, double Mean)[size];
        static bool Before((int Token, double Mean) a, (int Token, double Mean) b) => a.Mean > b.Mean || (a.Mean == b.Mean && a.Token < b.Token);
        for (int r = 0; r < sums.Length; r++)
        {
            var candidate = (Token: tableTokens[r], Mean: sums[r] / (double)tokenCounts[tableTokens[r]]);
            if (filled == size && !Before(candidate, chosen[size - 1])) continue;
            int at = filled < size ? filled++ : size - 1;
            for (; at > 0 && Before(candidate, chosen[at - 1]); at--) chosen[at] = chosen[at - 1];
            chosen[at] = candidate;
        }
        return new TokenLookupTableSummaryOfNeuron(chosen.Select(t => tokenString(t.Token)).ToArray(), chosen.Select(t => t.Mean).ToArray())
        {
            Counts = chosen.Select(t => tokenCounts[t.Token]).ToArray(),
        };
    }

    public void Write(BinaryWriter writer)
    {
        writer.Write(layer);
        writer.Write(width);
        top.Write(writer);
        Checkpointing.Write(writer, heap);
        Checkpointing.Write(writer, heapCount);
        Checkpointing.Write(writer, maxima!);
        Checkpointing.Write(writer, lowestMax);
        Checkpointing.Write(writer, highestMax);
        Moments.Write(writer);
        Checkpointing.Write(writer, tokenSums!);
        if (fires is not null)
        {
            Checkpointing.Write(writer, fires);
            writer.Write(tokensSeen);
        }
    }

    public void Read(BinaryReader reader)
    {
        int savedLayer = reader.ReadInt32(), savedWidth = reader.ReadInt32();
        if (savedLayer != layer || savedWidth != width)
            throw new NeuronExplainerException($"collection checkpoint holds layer {savedLayer} ({savedWidth} units) where {Block} at layer {layer} ({width} units) was expected; {Collector.StartOverAdvice}");
        top.Read(reader);
        Checkpointing.Read<int>(reader, heap);
        Checkpointing.Read<int>(reader, heapCount);
        Checkpointing.Read<float>(reader, maxima!);
        Checkpointing.Read<float>(reader, lowestMax);
        Checkpointing.Read<float>(reader, highestMax);
        Moments.Read(reader);
        Checkpointing.Read<float>(reader, tokenSums!);
        if (fires is not null)
        {
            Checkpointing.Read<long>(reader, fires);
            tokensSeen = reader.ReadInt64();
        }
    }
}
