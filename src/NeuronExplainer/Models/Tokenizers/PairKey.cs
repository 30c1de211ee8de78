namespace NeuronExplainer.Models.Tokenizers;

/// <summary>Two token ids as one dictionary key, for merge tables.</summary>
internal static class PairKey
{
    public static long Of(int left, int right) => ((long)left << 32) | (uint)right;

    public static Dictionary<long, T> NewTable<T>(int capacity) => new(capacity, Mixer.Instance);

    /// <summary>long's own hash is high ^ low, which collides for most token pairs; this one mixes the bits.</summary>
    private sealed class Mixer : IEqualityComparer<long>
    {
        public static readonly Mixer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }
}
