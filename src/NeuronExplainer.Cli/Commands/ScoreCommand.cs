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
            using var setup = await options.SetUpAsync(parse, store, cancellationToken);
            if (parse.GetValue(from) is not { } source)
                return await ExplanationSession.RunAsync(parse, options, store, setup, RunStep.Score, parse.GetValue(control)!, cancellationToken);
            // Someone else's explanations: each neuron's chosen one, simulated and scored here like a single sample.
            var stored = ExplanationSession.Chosen(store, store.ListNeurons(), source, simulator: null);
            if (stored.Count == 0)
                throw new NeuronExplainerException($"store {store.Location} holds no scored explanations by '{source}' to score");
            var assigned = new AssignedExplanations(source, stored, $"the neuron has no explanation by '{source}'");
            return await ExplanationSession.RunAsync(parse, options, store,
                setup with { Explainer = assigned, FlowOptions = setup.FlowOptions with { Samples = 1, Revisions = 0 } },
                RunStep.ExplainAndScore, parse.GetValue(control)!, cancellationToken, only: assigned.Neurons);
        });
        return command;
    }
}
