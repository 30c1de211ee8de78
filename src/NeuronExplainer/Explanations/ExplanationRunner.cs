using System.Collections.Concurrent;
using NeuronExplainer.Activations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>Which part of the per-neuron flow a run does.</summary>
public enum RunStep { Explain, Score, ExplainAndScore }

/// <summary>What happened to one neuron in a run.</summary>
public enum NeuronOutcome { Stored, AlreadyDone, NotExplained, Estimated, Stopped }

/// <summary>Progress after each neuron: how many are finished of how many, and the last one's outcome.</summary>
public sealed record RunProgress(int Finished, int Total, NeuronId Neuron, NeuronOutcome Outcome, NeuronStatus? Status);

/// <summary>Counts of a run; <see cref="StopReason"/> is set when it stopped early (budget reached).</summary>
public sealed record RunCounts(int Stored, int AlreadyDone, int NotExplained, int Estimated, int Stopped, string? StopReason);

/// <summary>
/// Runs the per-neuron flow over many neurons, each independent: a neuron's result is stored whole when it is
/// finished (one transaction), and a neuron whose result is already stored is skipped, so a killed run resumes
/// without redoing work (and, through the LLM cache, without paying twice for calls it had made). Reaching the
/// budget stops new work cleanly; in a dry run, calls are counted and nothing is stored.
/// </summary>
public sealed class ExplanationRunner(INeuronRecordStore records, IExplanationResultStore results, ExplanationFlow flow, int concurrency = 1, bool dryRun = false)
{
    public async Task<RunCounts> RunAsync(IReadOnlyList<NeuronId> neurons, RunStep step, Action<RunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var outcomes = new ConcurrentBag<NeuronOutcome>();
        string? stopReason = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int finished = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = CancellationToken.None };
        await Parallel.ForEachAsync(neurons, options, async (id, _) =>
        {
            NeuronOutcome outcome;
            NeuronStatus? status = null;
            if (stop.IsCancellationRequested)
                outcome = NeuronOutcome.Stopped;
            else
            {
                try
                {
                    (outcome, status) = await RunOneAsync(id, step, stop.Token);
                }
                catch (LlmBudgetExceededException e)
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
            outcomes.Add(outcome);
            progress?.Invoke(new RunProgress(Interlocked.Increment(ref finished), neurons.Count, id, outcome, status));
        });
        cancellationToken.ThrowIfCancellationRequested();
        int Count(NeuronOutcome o) => outcomes.Count(x => x == o);
        return new RunCounts(Count(NeuronOutcome.Stored), Count(NeuronOutcome.AlreadyDone), Count(NeuronOutcome.NotExplained),
            Count(NeuronOutcome.Estimated), Count(NeuronOutcome.Stopped), stopReason);
    }

    async Task<(NeuronOutcome, NeuronStatus?)> RunOneAsync(NeuronId id, RunStep step, CancellationToken cancellationToken)
    {
        var existing = results.GetExplanationResult(id, flow.ExplainerName, flow.SimulatorName);
        bool explained = existing is { Status: NeuronStatus.Pending or NeuronStatus.Done or NeuronStatus.NoActivations };
        bool finished = existing is { Status: NeuronStatus.Done or NeuronStatus.NoActivations }
            || (step == RunStep.Explain && explained);
        if (finished) return (NeuronOutcome.AlreadyDone, existing!.Status);
        if (step == RunStep.Score && !explained) return (NeuronOutcome.NotExplained, existing?.Status);

        var record = records.GetNeuronRecord(id)
            ?? throw new NeuronExplainerException($"store {records.Location} lists neuron {id} but holds no record of it; run collect again");
        NeuronExplanationResult result;
        try
        {
            result = step switch
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
