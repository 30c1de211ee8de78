using NeuronExplainer.Activations;

namespace NeuronExplainer.Tests.Activations;

/// <summary>The token lookup table keeps the head of the full ranking (higher mean first, lower token id on ties) without sorting every token.</summary>
public sealed class TokenTableTests
{
    [Theory]
    [InlineData(7, 300)]
    [InlineData(50, 30)]
    public void The_table_is_the_head_of_the_full_sort_ties_going_to_the_lower_token(int size, int tokens)
    {
        var random = new Random(5);
        // Distinct token ids in no particular order, and sums drawn from a few values so that many means tie.
        var tableTokens = Enumerable.Range(0, tokens).Select(i => i * 3 + 1).OrderBy(_ => random.Next()).ToArray();
        var counts = new long[tokens * 3 + 1];
        foreach (int t in tableTokens) counts[t] = random.Next(1, 3);
        var sums = tableTokens.Select(t => counts[t] * (float)random.Next(-3, 4)).ToArray();
        var sampler = new LayerSampler(new UnitBlock(new UnitSource(UnitKind.Neuron, _ => "blocks.0.mlp.hook_post", 1), 0), 1, tokens, false, new CollectionSettings { TokenTableSize = size });

        var table = sampler.BuildTokenTable(sums, tableTokens, counts, t => $"t{t}");

        var expected = tableTokens.Select((t, r) => (Token: t, Mean: sums[r] / (double)counts[t]))
            .OrderByDescending(e => e.Mean).ThenBy(e => e.Token).Take(size).ToArray();
        Assert.Equal(expected.Select(e => $"t{e.Token}"), table.Tokens);
        Assert.Equal(expected.Select(e => e.Mean), table.AverageActivations);
        Assert.Equal(expected.Select(e => counts[e.Token]), table.Counts!);
        Assert.True(expected.Zip(expected.Skip(1)).Any(p => p.First.Mean == p.Second.Mean), "the case must hold ties");
    }
}
