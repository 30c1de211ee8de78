using System.Text.Json;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// What a neuron does downstream, measured in the engine by <see cref="NeuronAblation"/> (no LLM; the explanation is
/// not read, so its shuffled control equals it): on each valid top excerpt the neuron is set to 0 (method
/// <c>ablation</c>) and to its corpus mean (<c>ablation-mean</c>), and the score is the change of the mean next-token
/// loss (nats; positive when the neuron helps predict). The details hold the logits it raises and lowers where it
/// fires and its direct logit effect on the actual next token. The model is loaded on first use.
/// </summary>
public sealed class AblationScorer(Func<NeuronAblation> load) : IScorer
{
    public const string Name = "ablation";
    public const string MeanMethod = "ablation-mean";

    readonly Lazy<NeuronAblation> ablation = new(load);

    public IReadOnlyList<string> Methods => [Name, MeanMethod];

    public Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken)
    {
        var record = input.Record;
        if (record.NeuronId.Kind != UnitKind.Neuron)
            return Scores([.. Methods.Select(m => MethodScore.Failure(m,
                $"ablation sets an MLP neuron (blocks.L.mlp.hook_post) and {record.NeuronId} is not one; ablating {NeuronId.Prefix(record.NeuronId.Kind)} units is not supported yet"))]);
        var excerpts = record.TopRecords("valid");
        if (excerpts.Count == 0) return Scores([.. Methods.Select(m => new MethodScore(m, null, "the record has no valid top excerpts"))]);
        var effect = ablation.Value.Measure(record, excerpts, cancellationToken);
        if (effect.Problem is { } problem) return Scores([.. Methods.Select(m => MethodScore.Failure(m, problem))]);
        string details = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["excerpts"] = excerpts.Count,
            ["predictions"] = effect.Predictions,
            ["firing_positions"] = effect.FiringPositions,
            ["loss_change_zero"] = effect.ZeroLossChange,
            ["loss_change_mean"] = effect.MeanLossChange,
            ["direct_logit_effect"] = effect.DirectLogitEffect,
            ["promoted"] = effect.Promoted.Select(p => new { token = ablation.Value.TokenString(p.Id), logit_change = p.Change }),
            ["suppressed"] = effect.Suppressed.Select(p => new { token = ablation.Value.TokenString(p.Id), logit_change = p.Change }),
        });
        return Scores(
        [
            new(Name, effect.ZeroLossChange, null) { Details = details },
            effect.MeanLossChange is double mean ? new(MeanMethod, mean, null) : new(MeanMethod, null, "the record has no mean activation to set the neuron to"),
        ]);
    }

    static Task<IReadOnlyList<MethodScore>> Scores(IReadOnlyList<MethodScore> scores) => Task.FromResult(scores);
}
