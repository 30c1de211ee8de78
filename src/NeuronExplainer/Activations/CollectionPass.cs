using System.Diagnostics;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// Everything one collection pass accumulates, the per-batch work (forward pass, then every layer's
/// samplers) and its (de)serialisation for checkpoints.
/// </summary>
sealed class CollectionPass(ITransformerModel model, IReadOnlyList<int> layers, CollectionSettings settings, UnitSource units)
{
    readonly ForwardRequest request = new(layers.Select(units.Hook).ToArray());

    public LayerSampler[] Samplers { get; } = layers.Select(l => new LayerSampler(l, units.Width, model.Info.VocabSize, settings)).ToArray();
    public WindowTokens Kept { get; } = new();
    public long[] TokenCounts { get; } = new long[model.Info.VocabSize];
    public long Documents, WindowsCut, WindowsSeen, Tokens, SkippedLines, PeakKeptWindows;
    public TimeSpan Forward, Bookkeeping;

    /// <summary>Runs one batch of equal-length windows through the model and every sampler.</summary>
    public void Process(List<TokenWindow> batch)
    {
        int offset = model.Info.PrependsBos ? 1 : 0, rows = batch[0].Tokens.Length + offset;
        var input = new int[batch.Count * rows];
        for (int b = 0; b < batch.Count; b++)
        {
            if (offset == 1) input[b * rows] = model.Tokenizer.BosId!.Value;
            batch[b].Tokens.CopyTo(input, b * rows + offset);
        }
        var clock = Stopwatch.StartNew();
        var result = model.Forward(input, batch.Count, rows, request);
        Forward += clock.Elapsed;
        Accumulate(batch, result);
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
            foreach (int token in batch[b].Tokens)
            {
                if ((uint)token >= (uint)TokenCounts.Length)
                    throw new NeuronExplainerException($"the tokenizer produced id {token} outside the model's vocabulary of {TokenCounts.Length}");
                TokenCounts[token]++;
            }
        }
        foreach (var sampler in Samplers)
            sampler.Add(result.Hook(units.Hook(sampler.Layer)), batch, rows, offset, tokenRows, WindowsSeen, Kept);
        WindowsSeen += batch.Count;
        PeakKeptWindows = Math.Max(PeakKeptWindows, Kept.Count);
        Bookkeeping += clock.Elapsed;
    }

    public byte[] Write(int format, IReadOnlyDictionary<string, string> manifest)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(format);
            writer.Write(Fingerprint(manifest));
            foreach (long value in new[] { Documents, WindowsCut, WindowsSeen, Tokens, SkippedLines, PeakKeptWindows }) writer.Write(value);
            Checkpointing.Write(writer, TokenCounts);
            Kept.Write(writer);
            foreach (var sampler in Samplers) sampler.Write(writer);
        }
        return buffer.ToArray();
    }

    public void Read(byte[] state, int format, IReadOnlyDictionary<string, string> manifest)
    {
        using var reader = new BinaryReader(new MemoryStream(state));
        try
        {
            if (reader.ReadInt32() != format || reader.ReadString() != Fingerprint(manifest))
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

    static string Fingerprint(IReadOnlyDictionary<string, string> manifest) =>
        string.Join(";", manifest.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));
}
