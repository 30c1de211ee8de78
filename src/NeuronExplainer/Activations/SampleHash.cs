namespace NeuronExplainer.Activations;

/// <summary>
/// Counter-based random numbers for the samplers: a draw is a hash of (seed, sampler, neuron, item),
/// so every neuron has its own independent stream, and a resumed run draws exactly what an
/// uninterrupted one would without any generator state to save.
/// </summary>
static class SampleHash
{
    /// <summary>A uniform integer in [0, bound).</summary>
    public static long Below(ulong seed, ulong sampler, ulong neuron, ulong item, long bound)
    {
        ulong h = Mix(Mix(Mix(seed ^ (sampler * 0x9E3779B97F4A7C15UL)) ^ neuron) ^ item);
        return (long)(((UInt128)h * (ulong)bound) >> 64);
    }

    /// <summary>SplitMix64's finaliser: a bijective mix with full avalanche.</summary>
    static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
