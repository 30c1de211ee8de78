namespace NeuronExplainer.Models.Checkpoints;

internal static class WeightArrays
{
    /// <summary>Stacks matrices with the same column count row-wise (fuses q, k and v into one projection).</summary>
    public static T[] Concat<T>(params T[][] parts)
    {
        var result = new T[parts.Sum(p => p.Length)];
        var offset = 0;
        foreach (var part in parts)
        {
            part.CopyTo(result, offset);
            offset += part.Length;
        }
        return result;
    }
}
