using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>Where a neuron's explain/score work stands.</summary>
public enum NeuronStatus { Pending, Done, Failed, NoActivations }

/// <summary>Whether a result is a control (an explanation of another neuron, expected to score near 0) rather than the neuron's own.</summary>
public enum ControlKind { None, Shuffled }

/// <summary>
/// The explanations of one neuron by one explainer/simulator pair, scored, with the one chosen on
/// calibration and its score on valid. A failed neuron has a reason and no invented scores.
/// </summary>
public sealed record NeuronExplanationResult(
    NeuronId Neuron,
    string Explainer,
    string Simulator,
    NeuronStatus Status,
    string? Reason,
    NeuronSimulationResults? Results,
    int? ChosenIndex,
    DateTimeOffset UpdatedAt)
{
    /// <summary>Set on the results of a control, which listings, search and summaries keep apart.</summary>
    public ControlKind Control { get; init; }

    /// <summary>The chosen explanation's score by every scorer of the run (<see cref="IScorer"/>), once scored; a store gives them back ordered by method.</summary>
    public IReadOnlyList<MethodScore> Scores { get; init; } = [];

    /// <summary>The rule that chose <see cref="ChosenIndex"/> (<see cref="ChoiceRule"/>), when one was chosen.</summary>
    public string? ChosenBy { get; init; }
}

/// <summary>
/// One row of a layer listing: a neuron's chosen explanation and its score, read without parsing
/// the stored results (null where none was chosen or the score is undefined).
/// </summary>
public sealed record NeuronScore(NeuronId Neuron, string Explainer, string Simulator, NeuronStatus Status, string? Explanation, double? Score)
{
    /// <inheritdoc cref="NeuronExplanationResult.Control"/>
    public ControlKind Control { get; init; }
}

/// <summary>The results role of a store: one result per neuron and explainer/simulator pair, each Put one transaction.</summary>
public interface IExplanationResultStore
{
    /// <summary>
    /// Stores <paramref name="result"/>, replacing the unit's result of the same pair. <paramref name="record"/>: the unit's
    /// stored record when the caller has just read it, so the store need not read it again to refer to its excerpts.
    /// The same write drops every claim on the result's work (<see cref="TryClaim"/>): a stored result settles it.
    /// </summary>
    void PutExplanationResult(NeuronExplanationResult result, NeuronRecord? record = null);
    NeuronExplanationResult? GetExplanationResult(NeuronId id, string explainer, string simulator);
    /// <summary>Every explainer/simulator result of one neuron, in the order they were first stored.</summary>
    IReadOnlyList<NeuronExplanationResult> GetExplanationResults(NeuronId id);
    IReadOnlyList<NeuronExplanationResult> ListExplanationResults(int? layer = null);

    /// <summary>Chosen explanation and score of every result, cheap enough for a listing of tens of thousands of neurons.</summary>
    IReadOnlyList<NeuronScore> ListScores(int? layer = null);

    /// <summary>Every stored per-method score (without details) of every result, read without parsing the results.</summary>
    IReadOnlyList<MethodScoreRow> ListMethodScores(int? layer = null);

    /// <summary>
    /// Claims the work on one result for <see cref="WorkClaim.Owner"/> until <see cref="WorkClaim.Until"/>, atomically:
    /// true when no claim was held, it had expired by <paramref name="now"/>, or it was the owner's own. (A PostgreSQL
    /// store can do the same upsert, or take rows with SELECT ... FOR UPDATE SKIP LOCKED.)
    /// </summary>
    bool TryClaim(WorkClaim claim, DateTimeOffset now);
    /// <summary>
    /// Claims for <paramref name="owner"/> until <paramref name="until"/> those of <paramref name="neurons"/> whose
    /// (neuron, explainer, simulator) claim is free by <paramref name="now"/> (as <see cref="TryClaim"/>), in one
    /// transaction; returns the claimed. Workers claiming the same neurons at once each get others (PostgreSQL: FOR
    /// UPDATE SKIP LOCKED) instead of waiting on each other.
    /// </summary>
    IReadOnlyList<NeuronId> TryClaimBatch(IReadOnlyList<NeuronId> neurons, string explainer, string simulator, string owner, DateTimeOffset until, DateTimeOffset now);
    /// <summary>Extends every claim of <paramref name="owner"/> to <paramref name="until"/> (a run still working on them).</summary>
    void RenewClaims(string owner, DateTimeOffset until);
    /// <summary>Drops the claim if <see cref="WorkClaim.Owner"/> still holds it.</summary>
    void ReleaseClaim(WorkClaim claim);

    /// <summary>The <see cref="ExplanationProtocol"/> the store's results were made under; null until a run recorded one.</summary>
    string? GetProtocol();
    /// <summary>Records <paramref name="protocol"/> unless the store has one already, atomically; returns the one it holds now.</summary>
    string RecordProtocol(string protocol);
}

/// <summary>A run's claim on the work of one result (neuron, explainer, simulator), held until it is released or expires.</summary>
public sealed record WorkClaim(NeuronId Neuron, string Explainer, string Simulator, string Owner, DateTimeOffset Until);

/// <summary>One stored per-method score of one result, for summaries per method.</summary>
public sealed record MethodScoreRow(NeuronId Neuron, string Explainer, string Simulator, ControlKind Control, MethodScore Score);
