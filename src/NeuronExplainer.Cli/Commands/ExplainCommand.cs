using System.CommandLine;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>explain</c>: writes explanations of the selected neurons from their train excerpts, chooses (and optionally
/// revises) them on the calibration split, and stores them waiting for <c>score</c>.
/// </summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var options = new ExplanationOptions();
        var command = new Command("explain",
            "Explain neurons of a collected store: write --samples explanations per neuron, keep the best on the calibration split, " +
            "optionally --revise it; then run score. Example: neuron-explainer explain --store runs/s260k --explainer gpt-4o-mini --simulator gpt-4o-mini --samples 3");
        options.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var store = NeuronStores.OpenExisting(parse.GetValue(options.Store)!);
            using var session = await ExplanationSession.OpenAsync(options.Settings(parse), store, cancellationToken);
            return await ExplanationReport.RunAsync(parse, options, store, session, RunStep.Explain, cancellationToken);
        });
        return command;
    }
}
