using System.Diagnostics;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Activations of the shared random and pool windows for the samplers of one group, recomputed after the pass:
/// one [window, seq_len, width] block per sampler (a layer's units, or one SAE's), so the collection pass itself keeps
/// only their ids.
/// </summary>
sealed class RecomputedWindows
{
    readonly Dictionary<long, int> index;
    readonly Dictionary<LayerSampler, float[]> blocks;
    readonly int seqLen;

    public RecomputedWindows(long[] windowIds, IEnumerable<LayerSampler> samplers, int seqLen)
    {
        this.seqLen = seqLen;
        index = windowIds.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        blocks = samplers.ToDictionary(s => s, s => new float[(long)windowIds.Length * seqLen * s.Width]);
    }

    public bool Holds(long window) => index.ContainsKey(window);

    /// <summary>Every head's attention sources on the windows the group's records need (attention heads only, else null).</summary>
    public HeadSources? Sources { get; init; }

    /// <summary>Stores a window's rows [length, width] of one sampler's units.</summary>
    public void Put(LayerSampler sampler, long window, ReadOnlySpan<float> rows) =>
        rows.CopyTo(blocks[sampler].AsSpan((int)((long)index[window] * seqLen * sampler.Width), rows.Length));

    /// <summary>Drops a sampler's block once its records are written: the group's other blocks are all that is left to hold.</summary>
    public void Release(LayerSampler sampler) => blocks.Remove(sampler);

    /// <summary>Unit <paramref name="n"/>'s activations on a window, <paramref name="length"/> tokens long.</summary>
    public float[] Activations(LayerSampler sampler, int n, long window, int length)
    {
        int width = sampler.Width;
        var block = blocks[sampler].AsSpan((int)((long)index[window] * seqLen * width), length * width);
        var values = new float[length];
        for (int t = 0; t < length; t++) values[t] = block[t * width + n];
        return values;
    }
}

/// <summary>
/// The second, short forward pass over only the windows the records need: the shared random and pool windows,
/// and, when the memory plan did not keep them, every top-K window of the group's layers. Each window runs at
/// its first-pass batch size and position, where its activations do not depend on the other windows of the
/// batch (tested bit for bit on both GEMM backends), so they are exactly the ones the first pass saw.
/// </summary>
sealed class RecordPass(ITransformerModel model, CollectionSettings settings)
{
    public TimeSpan Forward { get; private set; }

    public long WindowsRun { get; private set; }

    /// <summary>Recomputes what the group's records need; top-K activations land in each sampler's slots.</summary>
    public RecomputedWindows Run(IReadOnlyList<LayerSampler> group, SharedSamples shared, WindowTokens kept)
    {
        var sharedIds = shared.WindowIds();
        bool heads = group[0].Block.Units.Kind == UnitKind.AttentionHead;
        var recomputed = new RecomputedWindows(sharedIds, group, settings.SequenceLength) { Sources = heads ? new HeadSources(group[0].Width) : null };
        // Per sampler, the (unit, slot) pairs of top-K slots that wait for a window, by window id.
        var waiting = new Dictionary<LayerSampler, Dictionary<long, List<int>>>();
        var needed = new HashSet<long>(sharedIds);
        foreach (var sampler in group)
        {
            // A head's top windows run again for their attention patterns even when their activations were kept.
            if (heads)
                for (int n = 0; n < sampler.Width; n++)
                    foreach (int slot in sampler.Top.Filled(n)) needed.Add(sampler.Top.Id(n, slot));
            if (sampler.Top.KeepsActivations) continue;
            sampler.Top.AllocateRecomputed();
            var byWindow = new Dictionary<long, List<int>>();
            for (int n = 0; n < sampler.Width; n++)
                foreach (int slot in sampler.Top.Filled(n))
                {
                    long id = sampler.Top.Id(n, slot);
                    if (!byWindow.TryGetValue(id, out var list)) byWindow[id] = list = [];
                    list.Add(n * sampler.TopK + slot);
                    needed.Add(id);
                }
            waiting[sampler] = byWindow;
        }

        // Two SAEs of one hook read it once.
        var request = new ForwardRequest(group.Select(s => s.Block.Hook).Concat(heads ? group.Select(s => ForwardRequest.AttnPattern(s.Layer)) : []).Distinct().ToArray());
        int offset = model.Info.PrependsBos ? 1 : 0;
        foreach (var batch in Batches(needed, kept))
        {
            int length = batch[0].Tokens.Length;
            var (input, rows) = CollectionPass.Input(model, batch);
            var clock = Stopwatch.StartNew();
            var result = model.Forward(input, batch.Length, rows, request);
            Forward += clock.Elapsed;
            WindowsRun += batch.Count(w => w.Id >= 0);
            foreach (var sampler in group)
            {
                var hook = sampler.Block.Read(result, batch.Length * rows);
                var pattern = heads ? result.Hook(ForwardRequest.AttnPattern(sampler.Layer)) : default;
                int width = sampler.Width;
                for (int b = 0; b < batch.Length; b++)
                {
                    long id = batch[b].Id;
                    if (id < 0) continue;
                    int firstRow = b * rows + offset;
                    if (recomputed.Holds(id)) recomputed.Put(sampler, id, hook.Slice(firstRow * width, length * width));
                    recomputed.Sources?.Put(sampler.Layer, id, pattern.Slice(b * width * rows * rows, width * rows * rows), rows, offset, length);
                    if (!waiting.TryGetValue(sampler, out var byWindow) || !byWindow.TryGetValue(id, out var slots)) continue;
                    foreach (int packed in slots)
                    {
                        int n = packed / sampler.TopK, slot = packed % sampler.TopK;
                        var target = sampler.Top.Activations(n, slot, length);
                        for (int t = 0, i = firstRow * width + n; t < length; t++, i += width) target[t] = hook[i];
                    }
                }
            }
        }
        return recomputed;
    }

    /// <summary>
    /// The needed windows in batches that put each one where the first pass ran it: same batch size, same
    /// position. Positions no needed window takes are filled with a copy of one (id -1, its rows ignored).
    /// </summary>
    static IEnumerable<TokenWindow[]> Batches(IEnumerable<long> needed, WindowTokens kept)
    {
        var placed = needed.Order().Select(id => (Window: new TokenWindow(id, kept.Tokens(id)), Place: kept.PlaceOf(id)));
        foreach (var group in placed.GroupBy(w => (w.Window.Tokens.Length, w.Place.BatchSize)))
        {
            var batches = new List<TokenWindow?[]>();
            var used = new int[group.Key.BatchSize];
            foreach (var (window, (size, position)) in group)
            {
                // The first batch whose slot at this position is still free.
                if (used[position] == batches.Count) batches.Add(new TokenWindow?[size]);
                batches[used[position]++][position] = window;
            }
            foreach (var batch in batches)
            {
                var filler = new TokenWindow(-1, batch.First(w => w is not null)!.Value.Tokens);
                yield return batch.Select(w => w ?? filler).ToArray();
            }
        }
    }
}
