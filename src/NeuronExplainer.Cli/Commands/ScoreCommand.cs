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
        var control = ExplanationSession.ControlOption();
        var command = new Command("score",
            "Score explained neurons on the valid split (pooled correlation, R^2, absolute deviation, bootstrap interval) and print " +
            "the summary. Example: neuron-explainer score --store runs/s260k --control shuffled");
        options.AddTo(command);
        command.Options.Add(control);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var store = SqliteNeuronStore.OpenExisting(parse.GetValue(options.Store)!);
            using var setup = await options.SetUpAsync(parse, store, cancellationToken);
            return await ExplanationSession.RunAsync(parse, options, store, setup, RunStep.Score, parse.GetValue(control)!, cancellationToken);
        });
        return command;
    }
}
