using NeuronExplainer.Models;

namespace NeuronExplainer.Tests.Engine;

/// <summary>Runs alone: it reads the process-wide allocation counter, which parallel test classes would inflate.</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
[Collection(nameof(AllocationTests))]
public class AllocationTests
{
    [Fact]
    public void RepeatedForwardPassesAllocateNoBuffers()
    {
        var config = new TransformerConfig("GPT2LMHeadModel", 4, 256, 1024, 4, 4, 64, 1000, 64, NormKind.LayerNorm, 1e-5f,
            MlpActivation.GeluNew, GatedMlp: false, LearnedPositions: true, RopeTheta: 0, PrependsBos: false);
        using var model = new Transformer("random", TransformerWeights.Random(config, seed: 2), new IdTokenizer(config.VocabSize));
        var tokens = Enumerable.Range(0, 8 * 64).Select(i => i % 100).ToArray();
        var request = new ForwardRequest([ForwardRequest.MlpPost(1), ForwardRequest.MlpPost(3), ForwardRequest.AttnPattern(2),
            ForwardRequest.ResidPre(0), "blocks.2.attn.hook_z", "blocks.1.hook_attn_out", "blocks.3.hook_mlp_out"], Logits: true);
        for (var i = 0; i < 3; i++) model.Forward(tokens, 8, 64, request);
        // A buffer allocated per pass would show in every pass; the runtime's own one-off allocations (tiered
        // JIT, thread pool growth) do not, so the least of several passes is what the forward pass itself allocates.
        // The counter is process-wide: background work left by other test classes (servers shutting down, timers)
        // lands in some passes under a loaded machine, so take the least of ten.
        var allocated = long.MaxValue;
        for (var i = 0; i < 10; i++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            model.Forward(tokens, 8, 64, request);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        // The smallest buffer of this shape (residual stream, attention pattern) is 8*64*256*4 bytes = 512 KiB;
        // what a warm pass allocates is bookkeeping (the request's dictionaries, Parallel.For's tasks and closures).
        Assert.True(allocated < 256 * 1024, $"a warm forward pass allocated {allocated} bytes");
    }

    [Fact]
    public void ReleasedBuffersAreTheModelsNoLongerAndTheNextPassGivesTheSameOutputs()
    {
        var config = new TransformerConfig("GPT2LMHeadModel", 2, 64, 256, 4, 4, 16, 300, 32, NormKind.LayerNorm, 1e-5f,
            MlpActivation.GeluNew, GatedMlp: false, LearnedPositions: true, RopeTheta: 0, PrependsBos: false);
        using var model = new Transformer("random", TransformerWeights.Random(config, seed: 3), new IdTokenizer(config.VocabSize));
        var tokens = Enumerable.Range(0, 2 * 32).Select(i => i * 7 % 300).ToArray();
        var request = new ForwardRequest([ForwardRequest.MlpPost(1)], Logits: true);
        string hook = ForwardRequest.MlpPost(1);
        var first = model.Forward(tokens, 2, 32, request);
        float[] activations = first.Hook(hook).ToArray(), logits = first.Logits!.Value.ToArray();
        model.ReleaseBuffers();
        var second = model.Forward(tokens, 2, 32, request);
        Assert.Equal(activations, second.Hook(hook).ToArray());
        Assert.Equal(logits, second.Logits!.Value.ToArray());
        // Given up, not reused: the second pass wrote into a buffer of its own.
        Assert.False(System.Runtime.CompilerServices.Unsafe.AreSame(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(first.Hook(hook)),
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(second.Hook(hook))));
    }
}
