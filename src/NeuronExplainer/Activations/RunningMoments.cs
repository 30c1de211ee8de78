using System.Numerics.Tensors;

namespace NeuronExplainer.Activations;

/// <summary>
/// Mean and central moment sums (M2, M3, M4) of many neurons over all tokens, in one pass. Each batch
/// is summarised with a two-pass computation around its own mean, then merged into the running
/// totals with Pébay's pairwise formulas, so no large sums of raw powers are ever formed.
/// </summary>
public sealed class RunningMoments
{
    readonly int width;
    readonly float[] shift, batchSum, shiftedMean, delta, deltaSquared, batchM2, batchM3, batchM4;

    public RunningMoments(int width)
    {
        this.width = width;
        Mean = new double[width];
        M2 = new double[width];
        M3 = new double[width];
        M4 = new double[width];
        batchSum = new float[width];
        shiftedMean = new float[width];
        shift = new float[width];
        delta = new float[width];
        deltaSquared = new float[width];
        batchM2 = new float[width];
        batchM3 = new float[width];
        batchM4 = new float[width];
    }

    public long Count { get; private set; }
    public double[] Mean { get; }
    public double[] M2 { get; }
    public double[] M3 { get; }
    public double[] M4 { get; }

    /// <summary>Adds <paramref name="rows"/> activation rows, each <c>width</c> wide, selected from a hook buffer.</summary>
    public void AddBatch(ReadOnlySpan<float> hook, IReadOnlyList<int> rows)
    {
        if (rows.Count == 0) return;
        // Work in float on values shifted by the running mean (the first row at the start), so the
        // float sums stay small and keep their precision however large the activations' offset.
        if (Count == 0) hook.Slice(rows[0] * width, width).CopyTo(shift);
        else for (int i = 0; i < width; i++) shift[i] = (float)Mean[i];
        batchSum.AsSpan().Clear();
        foreach (int r in rows)
        {
            TensorPrimitives.Subtract(hook.Slice(r * width, width), shift, delta);
            TensorPrimitives.Add(batchSum, delta, batchSum);
        }
        TensorPrimitives.Divide(batchSum, rows.Count, shiftedMean);
        batchM2.AsSpan().Clear();
        batchM3.AsSpan().Clear();
        batchM4.AsSpan().Clear();
        foreach (int r in rows)
        {
            TensorPrimitives.Subtract(hook.Slice(r * width, width), shift, delta);
            TensorPrimitives.Subtract(delta, shiftedMean, delta);
            TensorPrimitives.Multiply(delta, delta, deltaSquared);
            TensorPrimitives.Add(batchM2, deltaSquared, batchM2);
            TensorPrimitives.MultiplyAdd(deltaSquared, delta, batchM3, batchM3);
            TensorPrimitives.MultiplyAdd(deltaSquared, deltaSquared, batchM4, batchM4);
        }
        long nb = rows.Count;
        for (int i = 0; i < width; i++) Merge(i, nb, (double)shift[i] + shiftedMean[i], batchM2[i], batchM3[i], batchM4[i]);
        Count += nb;
    }

    /// <summary>Merges another shard's totals (the same neurons over other tokens) into these, by the same pairwise formulas.</summary>
    public void Merge(RunningMoments other)
    {
        if (other.Count == 0) return;
        for (int i = 0; i < width; i++) Merge(i, other.Count, other.Mean[i], other.M2[i], other.M3[i], other.M4[i]);
        Count += other.Count;
    }

    /// <summary>Pébay (2008) merge of neuron <paramref name="i"/>'s totals with a summary of <paramref name="nb"/> values.</summary>
    void Merge(int i, long nb, double meanB, double m2B, double m3B, double m4B)
    {
        double na = Count, n = na + nb;
        double d = meanB - Mean[i], d2 = d * d;
        double m2A = M2[i], m3A = M3[i];
        Mean[i] += d * nb / n;
        M2[i] = m2A + m2B + d2 * na * nb / n;
        M3[i] = m3A + m3B + d2 * d * na * nb * (na - nb) / (n * n) + 3 * d * (na * m2B - nb * m2A) / n;
        M4[i] += m4B + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6 * d2 * (na * na * m2B + nb * nb * m2A) / (n * n) + 4 * d * (na * m3B - nb * m3A) / n;
    }

    /// <summary>
    /// Population variance, skewness and excess kurtosis (Fisher's, normal = 0) of neuron <paramref name="i"/>.
    /// Skewness and kurtosis are null for a neuron that never varied, where they are undefined.
    /// </summary>
    public (double Mean, double Variance, double? Skewness, double? Kurtosis) Summary(int i)
    {
        double n = Count, variance = M2[i] / n;
        if (!(variance > 1e-30)) return (Mean[i], variance, null, null);
        return (Mean[i], variance, Math.Sqrt(n) * M3[i] / Math.Pow(M2[i], 1.5), n * M4[i] / (M2[i] * M2[i]) - 3);
    }

    internal void Write(BinaryWriter writer)
    {
        writer.Write(Count);
        foreach (var a in new[] { Mean, M2, M3, M4 }) Checkpointing.Write(writer, a);
    }

    internal void Read(BinaryReader reader)
    {
        Count = reader.ReadInt64();
        foreach (var a in new[] { Mean, M2, M3, M4 }) Checkpointing.Read(reader, a);
    }
}
