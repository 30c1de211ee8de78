using System.Collections.Concurrent;
using NeuronExplainer.Activations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>Which part of the per-neuron flow a run does.</summary>
public enum RunStep { Explain, Score, ExplainAndScore }

/// <summary>What happened to one neuron in a run.</summary>
public enum NeuronOutcome { Stored, AlreadyDone, NotExplained, Estimated, Stopped, RecordMissing }

/// <summary>Progress after each neuron: how many are finished of how many, and the last one's outcome.</summary>
public sealed record RunProgress(int Finished, int Total, NeuronId Neuron, NeuronOutcome Outcome, NeuronStatus? Status);

/// <summary>
/// Counts of a run; <see cref="StopReason"/> is set when it stopped early (budget reached, or the server failed call after call).
/// <see cref="RecordMissing"/> counts stored results left as they were because the work they needed (scoring, adding a
/// scorer's score) reads the activation record, which the store does not hold.
/// </summary>
public sealed record RunCounts(int Stored, int AlreadyDone, int NotExplained, int Estimated, int Stopped, string? StopReason, int RecordMissing = 0);

/// <summary>
/// Runs the per-neuron flow over many neurons, each independent: a neuron's result is stored whole when it is
/// finished (one transaction), and a neuron whose result is already stored is skipped, so a killed run resumes
/// without redoing work (and, through the LLM cache, without paying twice for calls it had made). Neurons are claimed
/// in the store in batches before they are worked on, so any number of runs (worker processes on any number of
/// machines) share the work and never work on the same neuron: a neuron another run holds is left for later and taken
/// up again once that run released it (then usually already done) or its claim lapsed (a killed run's; claims are
/// renewed while a run lives, every quarter of the lease). Reaching the budget, or a server that fails call after call
/// (<see cref="LlmServerUnavailableException"/>), stops new work cleanly; in a dry run, calls are counted and nothing
/// is stored or claimed.
/// </summary>
public sealed class ExplanationRunner(INeuronRecordStore records, IExplanationResultStore results, ExplanationFlow flow, int concurrency = 1, bool dryRun = false,
    TimeProvider? time = null, TimeSpan? claimLease = null)
{
    /// <summary>How long a claim lasts unless renewed; renewed every quarter of it, so only a dead run's claims lapse.</summary>
    public static readonly TimeSpan DefaultClaimLease = TimeSpan.FromMinutes(2);

    readonly TimeProvider clock = time ?? TimeProvider.System;
    readonly TimeSpan lease = claimLease ?? DefaultClaimLease;
    readonly string owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    /// <summary>When the run started, on the clock results are stamped with (<see cref="NeuronExplanationResult.UpdatedAt"/>).</summary>
    DateTimeOffset started = DateTimeOffset.MaxValue;
    /// <summary>Neurons claimed at once: two per worker task, so a claim transaction serves several neurons and no
    /// run holds many claims it has not started on while other runs wait.</summary>
    int ClaimBatch => 2 * Math.Max(1, concurrency);

    public async Task<RunCounts> RunAsync(IReadOnlyList<NeuronId> neurons, RunStep step, Action<RunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var outcomes = new ConcurrentBag<NeuronOutcome>();
        started = DateTimeOffset.UtcNow;
        string? stopReason = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var renewal = dryRun ? null : clock.CreateTimer(_ => Renew(), null, lease / 4, lease / 4);
        int finished = 0;
        void Finish(NeuronId id, NeuronOutcome outcome, NeuronStatus? status)
        {
            outcomes.Add(outcome);
            progress?.Invoke(new RunProgress(Interlocked.Increment(ref finished), neurons.Count, id, outcome, status));
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = CancellationToken.None };
        IReadOnlyList<NeuronId> pending = neurons;
        while (true)
        {
            var claims = new ClaimQueue(this, pending, step, stop.Token, Finish);
            try
            {
                await Parallel.ForEachAsync(Enumerable.Range(0, options.MaxDegreeOfParallelism), options, async (_, _) =>
                {
                    while (claims.Next() is { } id)
                    {
                        if (stop.IsCancellationRequested)
                        {
                            claims.Release(id);
                            Finish(id, NeuronOutcome.Stopped, null);
                            continue;
                        }
                        // Until the work says otherwise (an exception escaping it leaves the claim to release).
                        NeuronOutcome outcome = NeuronOutcome.Stopped;
                        NeuronStatus? status = null;
                        try
                        {
                            (outcome, status) = await RunClaimedAsync(id, step, stop.Token);
                        }
                        catch (Exception e) when (e is LlmBudgetExceededException or LlmServerUnavailableException)
                        {
                            Interlocked.CompareExchange(ref stopReason, e.Message, null);
                            stop.Cancel();
                            outcome = NeuronOutcome.Stopped;
                        }
                        catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                        {
                            outcome = NeuronOutcome.Stopped;
                        }
                        finally
                        {
                            // A stored result dropped its claim in the same write.
                            if (outcome != NeuronOutcome.Stored) claims.Release(id);
                        }
                        Finish(id, outcome, status);
                    }
                });
            }
            finally
            {
                // Claims taken but not started (a failure ended the pass) go back at once instead of lapsing.
                claims.ReleaseUnstarted();
            }
            if (claims.HeldElsewhere.Count == 0) break;
            try
            {
                await Task.Delay(lease / 8, clock, stop.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Stopped (budget) while waiting: the neurons left are counted as stopped by the next pass.
            }
            pending = [.. claims.HeldElsewhere];
        }
        cancellationToken.ThrowIfCancellationRequested();
        int Count(NeuronOutcome o) => outcomes.Count(x => x == o);
        return new RunCounts(Count(NeuronOutcome.Stored), Count(NeuronOutcome.AlreadyDone), Count(NeuronOutcome.NotExplained),
            Count(NeuronOutcome.Estimated), Count(NeuronOutcome.Stopped), stopReason, Count(NeuronOutcome.RecordMissing));
    }

    /// <summary>
    /// Hands the neurons of one pass to the worker tasks: the settled ones are finished without a claim, the others are
    /// claimed a batch at a time (in a dry run, handed out unclaimed); those another run holds are kept for the next pass.
    /// </summary>
    sealed class ClaimQueue(ExplanationRunner runner, IReadOnlyList<NeuronId> pending, RunStep step, CancellationToken stop,
        Action<NeuronId, NeuronOutcome, NeuronStatus?> finish)
    {
        readonly Lock gate = new();
        readonly Queue<NeuronId> claimed = new();
        int next;

        public List<NeuronId> HeldElsewhere { get; } = [];

        /// <summary>The next claimed neuron to work on, or null when the pass has none left.</summary>
        public NeuronId? Next()
        {
            lock (gate)
            {
                while (claimed.Count == 0 && next < pending.Count)
                {
                    var batch = new List<NeuronId>();
                    for (; next < pending.Count && batch.Count < runner.ClaimBatch; next++)
                    {
                        var id = pending[next];
                        if (stop.IsCancellationRequested)
                        {
                            finish(id, NeuronOutcome.Stopped, null);
                            continue;
                        }
                        if (runner.SettledNow(id, step) is { } settled) finish(id, settled.Outcome, settled.Status);
                        else batch.Add(id);
                    }
                    if (batch.Count == 0) continue;
                    var won = runner.ClaimAll(batch);
                    foreach (var id in batch)
                        if (won.Contains(id)) claimed.Enqueue(id);
                        else HeldElsewhere.Add(id);
                }
                return claimed.TryDequeue(out var taken) ? taken : null;
            }
        }

        public void Release(NeuronId id) => runner.Release(id);

        public void ReleaseUnstarted()
        {
            lock (gate)
                while (claimed.TryDequeue(out var id)) Release(id);
        }
    }

    /// <summary>The outcome (and stored status) when the stored result leaves nothing to do; null when there is work.</summary>
    (NeuronOutcome Outcome, NeuronStatus? Status)? SettledNow(NeuronId id, RunStep step)
    {
        var existing = results.GetExplanationResult(id, flow.ExplainerName, flow.SimulatorName);
        return SettledByAnyRun(existing, step) is { } settled ? (settled, existing?.Status) : null;
    }

    /// <summary>Those of <paramref name="batch"/> this run now holds (all of them in a dry run, which claims nothing).</summary>
    HashSet<NeuronId> ClaimAll(IReadOnlyList<NeuronId> batch)
    {
        if (dryRun) return [.. batch];
        var now = clock.GetUtcNow();
        return [.. results.TryClaimBatch(batch, flow.ExplainerName, flow.SimulatorName, owner, now + lease, now)];
    }

    void Release(NeuronId id)
    {
        if (!dryRun) results.ReleaseClaim(new WorkClaim(id, flow.ExplainerName, flow.SimulatorName, owner, clock.GetUtcNow()));
    }

    /// <summary>Extends this run's claims; a failure (the store busy past its timeout) only risks a lapse, so it waits for the next tick.</summary>
    void Renew()
    {
        try
        {
            results.RenewClaims(owner, clock.GetUtcNow() + lease);
        }
        catch (NeuronExplainerException)
        {
        }
    }

    /// <summary>What became of a neuron this run holds the claim of.</summary>
    async Task<(NeuronOutcome, NeuronStatus?)> RunClaimedAsync(NeuronId id, RunStep step, CancellationToken cancellationToken)
    {
        // Read again under the claim: another run may have stored the result since the first read.
        var existing = results.GetExplanationResult(id, flow.ExplainerName, flow.SimulatorName);
        if (SettledByAnyRun(existing, step) is { } now) return (now, existing?.Status);
        return await WorkAsync(id, step, existing, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Settled"/>, and a neuron another run (a worker beside this one) stored as failed since this run
    /// started counts as done for this run: a failed neuron is tried again by the next run, not by every worker of this one.
    /// </summary>
    NeuronOutcome? SettledByAnyRun(NeuronExplanationResult? existing, RunStep step) =>
        existing is { Status: NeuronStatus.Failed } && existing.UpdatedAt >= started ? NeuronOutcome.AlreadyDone : Settled(existing, step);

    /// <summary>
    /// The outcome when <paramref name="existing"/> leaves nothing to do for <paramref name="step"/>; null when there is
    /// work, which for a scored result is adding the scores of scorers it lacks.
    /// </summary>
    NeuronOutcome? Settled(NeuronExplanationResult? existing, RunStep step)
    {
        bool explained = existing is { Status: NeuronStatus.Pending or NeuronStatus.Done or NeuronStatus.NoActivations };
        if (step != RunStep.Explain && existing is not null && flow.LacksScores(existing)) return null;
        if (existing is { Status: NeuronStatus.Done or NeuronStatus.NoActivations } || (step == RunStep.Explain && explained)) return NeuronOutcome.AlreadyDone;
        if (step == RunStep.Score && !explained) return NeuronOutcome.NotExplained;
        return null;
    }

    async Task<(NeuronOutcome, NeuronStatus?)> WorkAsync(NeuronId id, RunStep step, NeuronExplanationResult? existing, CancellationToken cancellationToken)
    {
        bool explained = existing is { Status: NeuronStatus.Pending };
        // An import may bring explanations of neurons without their collated activations: nothing to simulate on.
        var record = records.GetNeuronRecord(id);
        // A stored result is never replaced by the failure "no record": that would lose its explanations and scores.
        if (record is null && existing is not null) return (NeuronOutcome.RecordMissing, existing.Status);
        NeuronExplanationResult result;
        try
        {
            result = record is null ? flow.WithoutRecord(id, records.Location)
                : existing is { Status: NeuronStatus.Done } ? await flow.AddScoresAsync(record, existing, cancellationToken) : step switch
            {
                RunStep.Score => await flow.ScoreAsync(record, existing!, cancellationToken),
                RunStep.Explain => await flow.ExplainAsync(Input(record), cancellationToken),
                _ => explained
                    ? await flow.ScoreAsync(record, existing!, cancellationToken)
                    : await flow.ExplainAndScoreAsync(Input(record), cancellationToken),
            };
        }
        catch (LlmDryRunException) when (dryRun)
        {
            return (NeuronOutcome.Estimated, null);
        }
        if (dryRun) return (NeuronOutcome.Estimated, null);
        results.PutExplanationResult(result, record);
        return (NeuronOutcome.Stored, result.Status);
    }

    ExplainerInput Input(NeuronRecord record) => new(record, records.GetActivationBasedTokens(record.NeuronId));
}
