using System.Diagnostics;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Everything one collection pass accumulates, the per-batch work (forward pass, then every layer's
/// samplers) and its (de)serialisation for checkpoints.
/// </summary>
sealed class CollectionPass
{
    readonly ITransformerModel model;
    readonly ForwardRequest request;

    /// <param name="blocks">One sampler's units each: a layer's, or one SAE's.</param>
    public CollectionPass(ITransformerModel model, IReadOnlyList<UnitBlock> blocks, CollectionSettings settings, CorpusCensus census, MemoryPlan plan)
    {
        this.model = model;
        // One forward captures every hook the blocks read, once even when several SAEs read it.
        request = new(blocks.Select(b => b.Hook).Distinct().ToArray());
        TokenCounts = census.TokenCounts;
        TableTokens = census.TokensSeenAtLeast(settings.MinTokenCount);
        TableRow = new int[model.Info.VocabSize];
        TableRow.AsSpan().Fill(-1);
        for (int r = 0; r < TableTokens.Length; r++) TableRow[TableTokens[r]] = r;
        int maximaRows = (int)Math.Min(census.Windows, SharedSamples.MaximaSampleSize);
        Samplers = blocks.Select(b => new LayerSampler(b, maximaRows, TableTokens.Length, plan.KeepTopActivations, settings)).ToArray();
        Shared = new SharedSamples(settings);
    }

    public LayerSampler[] Samplers { get; }
    public SharedSamples Shared { get; }
    public WindowTokens Kept { get; } = new();
    /// <summary>Occurrences of every token id in the corpus (from the census).</summary>
    public long[] TokenCounts { get; }
    /// <summary>Token ids with a row of sums, and each token id's row (-1: none).</summary>
    public int[] TableTokens { get; }
    public int[] TableRow { get; }
    public long Documents, WindowsCut, WindowsSeen, Tokens, PeakKeptWindows;
    /// <summary>Batches formed so far, run or (by another corpus shard) skipped.</summary>
    public long Batches;
    public TimeSpan Forward, Bookkeeping;
    /// <summary>
    /// When set, each batch first runs through the bare forward pass (this request: no hook but the deepest layer's
    /// output) and <see cref="BareForward"/> adds its time: a baseline measured batch by batch beside the collection's own
    /// forward, so a machine whose load changes during the run weighs on both alike. Benchmarks only.
    /// </summary>
    public ForwardRequest? BareRequest;
    public TimeSpan BareForward;

    /// <summary>
    /// Passes over a batch that another corpus shard runs: its windows keep their numbers (items), so every shard's
    /// samples number windows as one pass over the whole corpus does.
    /// </summary>
    public void Skip(List<TokenWindow> batch)
    {
        WindowsSeen += batch.Count;
        Batches++;
    }

    /// <summary>
    /// Takes in the final state of another corpus shard of the same collection (the same batches, each run by one shard):
    /// see <see cref="LayerSampler.Merge"/> and <see cref="SharedSamples.Merge"/> for what is exact. Its counters of the
    /// corpus read are the same as these, since every shard reads the whole corpus.
    /// </summary>
    public void Merge(CollectionPass other)
    {
        if ((other.Documents, other.WindowsCut, other.WindowsSeen, other.Tokens, other.Batches) != (Documents, WindowsCut, WindowsSeen, Tokens, Batches))
            throw new NeuronExplainerException(
                $"a corpus shard's state read {other.Documents} documents and {other.WindowsSeen} windows where this one read {Documents} and {WindowsSeen}; the shards did not read the same corpus");
        for (int i = 0; i < Samplers.Length; i++) Samplers[i].Merge(other.Samplers[i], Kept, Shared, other.Shared, other.Kept);
        Shared.Merge(other.Shared, Kept, other.Kept);
        PeakKeptWindows = Math.Max(PeakKeptWindows, other.PeakKeptWindows);
    }

    /// <summary>Runs one batch of equal-length windows through the model and every sampler.</summary>
    public void Process(List<TokenWindow> batch)
    {
        var (input, rows) = Input(model, batch);
        var clock = Stopwatch.StartNew();
        if (BareRequest is { } bare)
        {
            model.Forward(input, batch.Count, rows, bare);
            BareForward += clock.Elapsed;
            clock.Restart();
        }
        var result = model.Forward(input, batch.Count, rows, request);
        Forward += clock.Elapsed;
        Accumulate(batch, result);
    }

    /// <summary>The forward input of a batch of equal-length windows, with BOS in front of each when the model wants it.</summary>
    public static (int[] Input, int Rows) Input(ITransformerModel model, IReadOnlyList<TokenWindow> batch)
    {
        int offset = model.Info.PrependsBos ? 1 : 0, rows = batch[0].Tokens.Length + offset;
        var input = new int[batch.Count * rows];
        for (int b = 0; b < batch.Count; b++)
        {
            if (offset == 1) input[b * rows] = model.Tokenizer.BosId!.Value;
            batch[b].Tokens.CopyTo(input, b * rows + offset);
        }
        return (input, rows);
    }

    /// <summary>Feeds a batch's forward result to every sampler: the bookkeeping that collection adds to the forward pass.</summary>
    public void Accumulate(List<TokenWindow> batch, ForwardResult result)
    {
        var clock = Stopwatch.StartNew();
        int length = batch[0].Tokens.Length, offset = model.Info.PrependsBos ? 1 : 0, rows = length + offset;
        var tokenRows = new int[batch.Count * length];
        for (int b = 0; b < batch.Count; b++)
        {
            for (int t = 0; t < length; t++) tokenRows[b * length + t] = b * rows + offset + t;
            Shared.Add(batch[b], WindowsSeen + b, Kept);
        }
        foreach (var sampler in Samplers)
            sampler.Add(sampler.Block.Read(result, batch.Count * rows), batch, rows, offset, tokenRows, WindowsSeen, TableRow, Shared, Kept);
        for (int b = 0; b < batch.Count; b++) Kept.Place(batch[b].Id, batch.Count, b);
        WindowsSeen += batch.Count;
        Batches++;
        PeakKeptWindows = Math.Max(PeakKeptWindows, Kept.Count);
        Bookkeeping += clock.Elapsed;
    }

    public void Write(BinaryWriter writer, int format, IReadOnlyDictionary<string, string> manifest)
    {
        writer.Write(format);
        writer.Write(Fingerprint(manifest));
        writer.Write(Samplers[0].Top.KeepsActivations);
        foreach (long value in new[] { Documents, WindowsCut, WindowsSeen, Tokens, PeakKeptWindows, Batches }) writer.Write(value);
        Kept.Write(writer);
        Shared.Write(writer);
        foreach (var sampler in Samplers) sampler.Write(writer);
        writer.Write(format);
    }

    /// <summary>
    /// Reads a checkpoint's header: checks that it is this version's and these settings', and returns whether
    /// its plan kept top-K activations (the state's layout), so the state can be built to match before <see cref="Read"/>.
    /// </summary>
    public static bool ReadHeader(BinaryReader reader, int format, IReadOnlyDictionary<string, string> manifest) => Guard(() =>
    {
        if (reader.ReadInt32() != format || reader.ReadString() != Fingerprint(manifest))
            throw new NeuronExplainerException($"the store's collection checkpoint was written by another version or settings; {Collector.StartOverAdvice}");
        return reader.ReadBoolean();
    });

    /// <summary>Reads the rest of a checkpoint after <see cref="ReadHeader"/>.</summary>
    public void Read(BinaryReader reader, int format) => Guard(() =>
    {
        Documents = reader.ReadInt64();
        WindowsCut = reader.ReadInt64();
        WindowsSeen = reader.ReadInt64();
        Tokens = reader.ReadInt64();
        PeakKeptWindows = reader.ReadInt64();
        Batches = reader.ReadInt64();
        Kept.Read(reader);
        Shared.Read(reader);
        foreach (var sampler in Samplers) sampler.Read(reader);
        if (reader.ReadInt32() != format) throw new EndOfStreamException();
        return true;
    });

    static T Guard<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (EndOfStreamException)
        {
            throw new NeuronExplainerException($"the store's collection checkpoint is truncated; {Collector.StartOverAdvice}");
        }
    }

    static string Fingerprint(IReadOnlyDictionary<string, string> manifest) =>
        string.Join(";", manifest.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));
}
