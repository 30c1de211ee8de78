using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>Runs over the same store that overlap (two processes, each with its own connection) never work on one neuron twice.</summary>
public sealed class OverlappingRunsTests : IDisposable
{
    readonly TempDirectory temp = new();
    readonly string run;
    static readonly TimeSpan ShortLease = TimeSpan.FromSeconds(2);

    public OverlappingRunsTests()
    {
        run = temp.Sub("run");
        using var store = SqliteNeuronStore.Open(run);
        store.PutNeuronRecords([.. Enumerable.Range(0, 6).Select(n =>
            SyntheticNeurons.Make(new NeuronId(0, n), (t, i) => t[i] == SyntheticNeurons.Words[n] ? 4 : 0, seed: n))]);
    }

    public void Dispose() => temp.Dispose();

    /// <summary>The baseline explainer, slowed down so that runs overlap, counting the neurons it is asked to explain.</summary>
    sealed class CountingExplainer(int[] calls) : IExplainer
    {
        readonly BaselineExplainer inner = new();
        public string Name => inner.Name;

        public async Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls[0]);
            await Task.Delay(40, cancellationToken);
            return await inner.ExplainAsync(input, samples, cancellationToken);
        }

        public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples, CancellationToken cancellationToken) =>
            inner.ReviseAsync(input, current, counterexamples, cancellationToken);
    }

    /// <summary>An explainer whose every answer is rejected, slowed down so that runs overlap, counting its calls.</summary>
    sealed class RejectingExplainer(int[] calls) : IExplainer
    {
        public string Name => "rejecting";

        public async Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls[0]);
            await Task.Delay(40, cancellationToken);
            return [new ExplanationAttempt(null, "not an explanation")];
        }

        public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    [Fact]
    public async Task A_neuron_another_run_failed_meanwhile_is_not_tried_again_by_this_one_but_by_the_next_run()
    {
        int[] calls = [0];
        using var first = SqliteNeuronStore.OpenExisting(run);
        using var second = SqliteNeuronStore.OpenExisting(run);
        ExplanationRunner Rejecting(SqliteNeuronStore store) =>
            new(store, store, new ExplanationFlow(new RejectingExplainer(calls), new BaselineSimulator(), new ExplanationFlowOptions()), concurrency: 2, claimLease: ShortLease);
        var neurons = first.ListNeurons();
        var counts = await Task.WhenAll(Rejecting(first).RunAsync(neurons, RunStep.ExplainAndScore), Rejecting(second).RunAsync(neurons, RunStep.ExplainAndScore));
        Assert.Equal(6, calls[0]);
        Assert.Equal(6, counts.Sum(c => c.Stored));
        Assert.All(first.ListScores(), s => Assert.Equal(NeuronStatus.Failed, s.Status));

        var next = await Rejecting(first).RunAsync(neurons, RunStep.ExplainAndScore);
        Assert.Equal(6, next.Stored);
        Assert.Equal(12, calls[0]);
    }

    ExplanationRunner Runner(SqliteNeuronStore store, int[] calls) =>
        new(store, store, new ExplanationFlow(new CountingExplainer(calls), new BaselineSimulator(), new ExplanationFlowOptions()), concurrency: 2, claimLease: ShortLease);

    [Fact]
    public async Task Two_overlapping_runs_explain_every_neuron_once_and_both_finish()
    {
        int[] calls = [0];
        using var first = SqliteNeuronStore.OpenExisting(run);
        using var second = SqliteNeuronStore.OpenExisting(run);
        var neurons = first.ListNeurons();
        var counts = await Task.WhenAll(Runner(first, calls).RunAsync(neurons, RunStep.ExplainAndScore), Runner(second, calls).RunAsync(neurons, RunStep.ExplainAndScore));
        Assert.Equal(6, calls[0]);
        Assert.Equal(6, counts.Sum(c => c.Stored));
        Assert.Equal(6, counts.Sum(c => c.AlreadyDone));
        Assert.All(first.ListScores(), s => Assert.Equal(NeuronStatus.Done, s.Status));
    }

    [Fact]
    public async Task A_claim_left_by_a_killed_run_is_taken_over_once_it_expires()
    {
        using var store = SqliteNeuronStore.OpenExisting(run);
        var now = DateTimeOffset.UtcNow;
        store.TryClaim(new WorkClaim(new NeuronId(0, 0), "baseline", "baseline", "killed-long-ago", now.AddMinutes(-1)), now.AddMinutes(-2));
        store.TryClaim(new WorkClaim(new NeuronId(0, 1), "baseline", "baseline", "killed-just-now", now.AddSeconds(1)), now);
        int[] calls = [0];
        var counts = await Runner(store, calls).RunAsync(store.ListNeurons(), RunStep.ExplainAndScore);
        Assert.Equal(6, counts.Stored);
        Assert.Equal(6, calls[0]);
    }
}
