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
/// without redoing work (and, through the LLM cache, without paying twice for calls it had made). Each neuron is
/// claimed in the store before it is worked on, so runs that overlap never work on the same one: a neuron another
/// run holds is left for later and taken up again once that run released it (then usually already done) or its
/// claim lapsed (a killed run's; claims are renewed while a run lives). Reaching the budget, or a server that fails
/// call after call (<see cref="LlmServerUnavailableException"/>), stops new work
/// cleanly; in a dry run, calls are counted and nothing is stored or claimed.
/// </summary>
public sealed class ExplanationRunner(INeuronRecordStore records, IExplanationResultStore results, ExplanationFlow flow, int concurrency = 1, bool dryRun = false,
    TimeProvider? time = null, TimeSpan? claimLease = null)
{
    /// <summary>How long a claim lasts unless renewed; renewed every quarter of it, so only a dead run's claims lapse.</summary>
    public static readonly TimeSpan DefaultClaimLease = TimeSpan.FromMinutes(2);

    readonly TimeProvider clock = time ?? TimeProvider.System;
    readonly TimeSpan lease = claimLease ?? DefaultClaimLease;
    readonly string owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    public async Task<RunCounts> RunAsync(IReadOnlyList<NeuronId> neurons, RunStep step, Action<RunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var outcomes = new ConcurrentBag<NeuronOutcome>();
        string? stopReason = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var renewal = dryRun ? null : clock.CreateTimer(_ => Renew(), null, lease / 4, lease / 4);
        int finished = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = CancellationToken.None };
        IReadOnlyList<NeuronId> pending = neurons;
        while (true)
        {
            var heldElsewhere = new ConcurrentBag<NeuronId>();
            await Parallel.ForEachAsync(pending, options, async (id, _) =>
            {
                NeuronOutcome? outcome;
                NeuronStatus? status = null;
                if (stop.IsCancellationRequested)
                    outcome = NeuronOutcome.Stopped;
                else
                {
                    try
                    {
                        (outcome, status) = await RunOneAsync(id, step, stop.Token);
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
                }
                if (outcome is not { } done)
                {
                    heldElsewhere.Add(id);
                    return;
                }
                outcomes.Add(done);
                progress?.Invoke(new RunProgress(Interlocked.Increment(ref finished), neurons.Count, id, done, status));
            });
            if (heldElsewhere.IsEmpty) break;
            try
            {
                await Task.Delay(lease / 8, clock, stop.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Stopped (budget) while waiting: the neurons left are counted as stopped by the next pass.
            }
            pending = [.. heldElsewhere];
        }
        cancellationToken.ThrowIfCancellationRequested();
        int Count(NeuronOutcome o) => outcomes.Count(x => x == o);
        return new RunCounts(Count(NeuronOutcome.Stored), Count(NeuronOutcome.AlreadyDone), Count(NeuronOutcome.NotExplained),
            Count(NeuronOutcome.Estimated), Count(NeuronOutcome.Stopped), stopReason, Count(NeuronOutcome.RecordMissing));
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

    /// <summary>What became of the neuron, or null when another run holds its claim (try again later).</summary>
    async Task<(NeuronOutcome?, NeuronStatus?)> RunOneAsync(NeuronId id, RunStep step, CancellationToken cancellationToken)
    {
        var existing = results.GetExplanationResult(id, flow.ExplainerName, flow.SimulatorName);
        if (Settled(existing, step) is { } settled) return (settled, existing?.Status);
        if (dryRun) return await WorkAsync(id, step, existing, cancellationToken);

        var claim = new WorkClaim(id, flow.ExplainerName, flow.SimulatorName, owner, clock.GetUtcNow() + lease);
        if (!results.TryClaim(claim, clock.GetUtcNow())) return (null, null);
        try
        {
            // Read again under the claim: another run may have stored the result since the first read.
            existing = results.GetExplanationResult(id, flow.ExplainerName, flow.SimulatorName);
            if (Settled(existing, step) is { } now) return (now, existing?.Status);
            return await WorkAsync(id, step, existing, cancellationToken);
        }
        finally
        {
            results.ReleaseClaim(claim);
        }
    }

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

    async Task<(NeuronOutcome?, NeuronStatus?)> WorkAsync(NeuronId id, RunStep step, NeuronExplanationResult? existing, CancellationToken cancellationToken)
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
        results.PutExplanationResult(result);
        return (NeuronOutcome.Stored, result.Status);
    }

    ExplainerInput Input(NeuronRecord record) => new(record, records.GetActivationBasedTokens(record.NeuronId));
}
