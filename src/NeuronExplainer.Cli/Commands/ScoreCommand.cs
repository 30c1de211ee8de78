using System.CommandLine;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>score</c>: simulates the explained neurons' explanations on the valid split (top and random excerpts 1:1)
/// and stores their scores; <c>--control shuffled</c> also scores each neuron with another neuron's explanation.
/// </summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var options = new ExplanationOptions();
        var control = ExplanationReport.ControlOption();
        var from = new Option<string?>("--explanations-from")
        {
            Description = "Score the explanations stored under this explainer name (e.g. openai after import) with --simulator, instead of explaining",
        };
        var command = new Command("score",
            "Score explained neurons on the valid split (pooled correlation, R^2, absolute deviation, bootstrap interval) and print " +
            "the summary. Example: neuron-explainer score --store runs/s260k --control shuffled");
        options.AddTo(command);
        command.Options.Add(control);
        command.Options.Add(from);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var store = NeuronStores.OpenExisting(parse.GetValue(options.Store)!);
            var settings = options.Settings(parse, ExplanationReport.Control(parse.GetValue(control)!)) with { Ablation = ModelOptions.AblationOfStore(store, parse) };
            using var session = await ExplanationSession.OpenAsync(settings, store, cancellationToken);
            if (parse.GetValue(from) is not { } source)
                return await ExplanationReport.RunAsync(parse, options, store, session, RunStep.Score, cancellationToken);
            using var scoring = session.ScoringExplanationsOf(source, store, store);
            return await ExplanationReport.RunAsync(parse, options, store, scoring, RunStep.ExplainAndScore, cancellationToken);
        });
        return command;
    }
}
