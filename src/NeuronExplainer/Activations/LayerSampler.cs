using System.Globalization;
using System.Numerics.Tensors;

namespace NeuronExplainer.Activations;

/// <summary>
/// The one-pass state of every neuron of one layer: top-K windows by max activation (a bounded
/// min-heap per neuron), a uniform reservoir of windows for the random sample, a second uniform
/// reservoir (the pool) from which the quantile samples are drawn at the end, a reservoir of
/// per-window maxima that estimates the quantile boundaries, moments over all tokens, and
/// per-token activation sums for the token lookup table.
/// </summary>
sealed class LayerSampler
{
    /// <summary>Size of the per-neuron reservoir of window maxima used for quantile boundaries.</summary>
    public const int MaximaSampleSize = 1024;

    const ulong RandomStream = 1, PoolStream = 2, MaximaStream = 3, QuantilePickStream = 4;

    readonly int layer, width;
    readonly CollectionSettings settings;
    readonly WindowSlots top, random, pool;
    readonly int[] heap;
    readonly int[] heapCount;
    readonly float[] maxima;
    readonly float[] lowestMax, highestMax;
    readonly float[]?[] tokenSums;
    readonly float[] windowMax;

    public LayerSampler(int layer, int width, int vocabSize, CollectionSettings settings)
    {
        this.layer = layer;
        this.width = width;
        this.settings = settings;
        top = new WindowSlots(width, settings.TopK, settings.SequenceLength);
        random = new WindowSlots(width, settings.RandomSamples, settings.SequenceLength);
        pool = new WindowSlots(width, settings.QuantilePoolSize, settings.SequenceLength);
        heap = new int[width * settings.TopK];
        heapCount = new int[width];
        maxima = new float[width * MaximaSampleSize];
        lowestMax = new float[width];
        lowestMax.AsSpan().Fill(float.PositiveInfinity);
        highestMax = new float[width];
        highestMax.AsSpan().Fill(float.NegativeInfinity);
        tokenSums = new float[vocabSize][];
        windowMax = new float[width];
        Moments = new RunningMoments(width);
    }

    public int Layer => layer;

    public int Width => width;

    public int TopK => settings.TopK;

    public RunningMoments Moments { get; }

    /// <summary>
    /// Adds one forward batch. <paramref name="hook"/> is [windows, rowsPerWindow, width]; window b's
    /// tokens are rows <c>b * rowsPerWindow + offset</c> onwards (offset 1 skips a BOS context token).
    /// <paramref name="firstItem"/> is how many windows were seen before this batch.
    /// </summary>
    public void Add(ReadOnlySpan<float> hook, IReadOnlyList<TokenWindow> windows, int rowsPerWindow, int offset,
        IReadOnlyList<int> tokenRows, long firstItem, WindowTokens kept)
    {
        for (int b = 0; b < windows.Count; b++)
        {
            var window = windows[b];
            int firstRow = b * rowsPerWindow + offset;
            windowMax.AsSpan().Fill(float.NegativeInfinity);
            for (int t = 0; t < window.Tokens.Length; t++)
            {
                var row = hook.Slice((firstRow + t) * width, width);
                TensorPrimitives.Max(windowMax, row, windowMax);
                var sums = tokenSums[window.Tokens[t]] ??= new float[width];
                TensorPrimitives.Add(sums, row, sums);
            }
            long item = firstItem + b;
            for (int n = 0; n < width; n++)
            {
                float key = windowMax[n];
                if (!float.IsFinite(key))
                    throw new NeuronExplainerException($"the model produced a non-finite activation ({key}) at blocks.{layer}.mlp.hook_post neuron {n} in window {window.Id}; the model weights or the engine are broken");
                AddToTop(n, window, key, hook, firstRow, kept);
                Reservoir(random, RandomStream, n, item, window, key, hook, firstRow, kept);
                Reservoir(pool, PoolStream, n, item, window, key, hook, firstRow, kept);
                if (item < MaximaSampleSize) maxima[n * MaximaSampleSize + item] = key;
                else if (SampleHash.Below(settings.Seed, MaximaStream, NeuronKey(n), (ulong)item, item + 1) is var j && j < MaximaSampleSize)
                    maxima[n * MaximaSampleSize + j] = key;
                if (key < lowestMax[n]) lowestMax[n] = key;
                if (key > highestMax[n]) highestMax[n] = key;
            }
        }
        Moments.AddBatch(hook, tokenRows);
    }

    void AddToTop(int n, TokenWindow window, float key, ReadOnlySpan<float> hook, int firstRow, WindowTokens kept)
    {
        int k = settings.TopK, count = heapCount[n];
        var h = heap.AsSpan(n * k, k);
        if (count < k)
        {
            top.Store(n, count, window, key, hook, firstRow, width, kept);
            h[count] = count;
            heapCount[n] = count + 1;
            SiftUp(n, h, count);
        }
        else if (Better(key, window.Id, top.Key(n, h[0]), top.Id(n, h[0])))
        {
            top.Store(n, h[0], window, key, hook, firstRow, width, kept);
            SiftDown(n, h, k);
        }
    }

    void Reservoir(WindowSlots slots, ulong stream, int n, long item, TokenWindow window, float key, ReadOnlySpan<float> hook, int firstRow, WindowTokens kept)
    {
        int capacity = slots.Capacity;
        if (item < capacity) slots.Store(n, (int)item, window, key, hook, firstRow, width, kept);
        else if (SampleHash.Below(settings.Seed, stream, NeuronKey(n), (ulong)item, item + 1) is var j && j < capacity)
            slots.Store(n, (int)j, window, key, hook, firstRow, width, kept);
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

    /// <summary>The finished record of neuron <paramref name="n"/>.</summary>
    public NeuronRecord BuildRecord(int n, long windowsSeen, WindowTokens kept, Func<int, string> tokenString)
    {
        ActivationRecord Record(WindowSlots slots, int slot)
        {
            var ids = kept.Tokens(slots.Id(n, slot));
            var values = slots.Activations(n, slot);
            var activations = new double[values.Length];
            for (int i = 0; i < values.Length; i++) activations[i] = ShortestDouble(values[i]);
            return new ActivationRecord(ids.Select(tokenString).ToArray(), activations);
        }

        var topSlots = top.Filled(n).OrderByDescending(s => top.Key(n, s)).ThenBy(s => top.Id(n, s));
        var randomSlots = random.Filled(n).OrderBy(s => random.Id(n, s));
        var boundaries = QuantileBoundaries(n, windowsSeen);
        var byQuantile = QuantileSamples(n, boundaries).Select(bin => (IReadOnlyList<ActivationRecord>)bin.Select(s => Record(pool, s)).ToArray()).ToArray();
        var (mean, variance, skewness, kurtosis) = Moments.Summary(n);
        return new NeuronRecord(
            new NeuronId(layer, n),
            randomSlots.Select(s => Record(random, s)).ToArray(),
            byQuantile,
            boundaries,
            mean, variance, skewness, kurtosis,
            topSlots.Select(s => Record(top, s)).ToArray());
    }

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
    /// Q + 1 boundaries of the per-window max activation: the exact lowest and highest window max
    /// at the ends, and between them the i/Q quantiles of the reservoir of window maxima.
    /// </summary>
    double[] QuantileBoundaries(int n, long windowsSeen)
    {
        int q = settings.Quantiles;
        var sample = maxima.AsSpan(n * MaximaSampleSize, (int)Math.Min(windowsSeen, MaximaSampleSize)).ToArray();
        Array.Sort(sample);
        var boundaries = new double[q + 1];
        boundaries[0] = lowestMax[n];
        boundaries[q] = highestMax[n];
        for (int i = 1; i < q; i++)
        {
            double position = (double)i / q * (sample.Length - 1);
            int below = (int)Math.Floor(position);
            int above = Math.Min(below + 1, sample.Length - 1);
            boundaries[i] = sample[below] + (position - below) * (sample[above] - sample[below]);
        }
        return boundaries;
    }

    /// <summary>
    /// For each quantile bin, up to PerQuantile pool windows whose max falls in it, chosen uniformly
    /// (by a seeded hash of the window id), in window order.
    /// </summary>
    List<int>[] QuantileSamples(int n, double[] boundaries)
    {
        int q = settings.Quantiles;
        var bins = Enumerable.Range(0, q).Select(_ => new List<int>()).ToArray();
        foreach (int slot in pool.Filled(n))
        {
            int bin = q - 1;
            while (bin > 0 && pool.Key(n, slot) < boundaries[bin]) bin--;
            bins[bin].Add(slot);
        }
        return bins.Select(bin => bin
            .OrderBy(s => SampleHash.Below(settings.Seed, QuantilePickStream, NeuronKey(n), (ulong)pool.Id(n, s), long.MaxValue))
            .Take(settings.PerQuantile)
            .OrderBy(s => pool.Id(n, s))
            .ToList()).ToArray();
    }

    /// <summary>
    /// Tokens of neuron <paramref name="n"/> with the highest mean activation among those seen at least
    /// MinTokenCount times, highest first.
    /// </summary>
    public TokenLookupTableSummaryOfNeuron BuildTokenTable(int n, long[] tokenCounts, Func<int, string> tokenString)
    {
        var best = new List<(int Token, double Mean)>();
        for (int token = 0; token < tokenSums.Length; token++)
            if (tokenSums[token] is { } sums && tokenCounts[token] >= settings.MinTokenCount)
                best.Add((token, sums[n] / (double)tokenCounts[token]));
        var chosen = best.OrderByDescending(t => t.Mean).ThenBy(t => t.Token).Take(settings.TokenTableSize).ToArray();
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
        random.Write(writer);
        pool.Write(writer);
        Checkpointing.Write(writer, heap);
        Checkpointing.Write(writer, heapCount);
        Checkpointing.Write(writer, maxima);
        Checkpointing.Write(writer, lowestMax);
        Checkpointing.Write(writer, highestMax);
        Moments.Write(writer);
        var present = tokenSums.Select((s, t) => (s, t)).Where(x => x.s is not null).Select(x => x.t).ToArray();
        Checkpointing.Write(writer, present);
        foreach (int t in present) Checkpointing.Write(writer, tokenSums[t]!);
    }

    public void Read(BinaryReader reader)
    {
        int savedLayer = reader.ReadInt32(), savedWidth = reader.ReadInt32();
        if (savedLayer != layer || savedWidth != width)
            throw new NeuronExplainerException($"collection checkpoint holds layer {savedLayer} ({savedWidth} neurons) where layer {layer} ({width} neurons) was expected; run collect with --force to start over");
        top.Read(reader);
        random.Read(reader);
        pool.Read(reader);
        Checkpointing.Read<int>(reader, heap);
        Checkpointing.Read<int>(reader, heapCount);
        Checkpointing.Read<float>(reader, maxima);
        Checkpointing.Read<float>(reader, lowestMax);
        Checkpointing.Read<float>(reader, highestMax);
        Moments.Read(reader);
        Array.Clear(tokenSums);
        foreach (int t in Checkpointing.ReadArray<int>(reader))
        {
            if ((uint)t >= (uint)tokenSums.Length)
                throw new NeuronExplainerException($"collection checkpoint names token {t} outside the vocabulary; run collect with --force to start over");
            Checkpointing.Read<float>(reader, tokenSums[t] = new float[width]);
        }
    }
}
