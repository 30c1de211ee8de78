using System.CommandLine;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>run</c>: collect, explain and score in one go. The LLM server (when one is named) is checked before the
/// collection starts; every stage resumes from the store, so running the same command again finishes a killed run.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var options = new ExplanationOptions();
        var collect = new CollectCommand.CollectOptions(options.Store, options.Layers);
        var control = ExplanationReport.ControlOption();
        var serve = new Option<bool>("--serve") { Description = "When done, browse the results in the local web viewer (as the serve command does)" };
        var listen = new ServeCommand.ListenOptions();
        var command = new Command("run",
            "Collect activations, explain and score the neurons, print the summary, and with --serve show them in the web viewer. " +
            "Example: neuron-explainer run --model ../shared/models/stories260K/stories260K.bin --corpus " +
            "../shared/corpora/tinystories-train-head.txt --store runs/stories260K --explainer baseline --simulator baseline --control shuffled --serve");
        options.AddTo(command);
        collect.AddTo(command);
        command.Options.Add(control);
        command.Options.Add(serve);
        listen.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = options.Settings(parse, ExplanationReport.Control(parse.GetValue(control)!));
            using var store = NeuronStores.Open(parse.GetValue(options.Store)!);
            using var session = await ExplanationSession.OpenAsync(settings, store, cancellationToken);
            session.CheckProtocol(store);
            int collected = collect.Execute(parse);
            if (collected != 0) return collected;
            int scored = await ExplanationReport.RunAsync(parse, options, store, session, RunStep.ExplainAndScore, cancellationToken);
            if (scored != 0 || !parse.GetValue(serve)) return scored;
            return await ServeCommand.ServeAsync(store, listen.Read(parse), parse.InvocationConfiguration.Output, cancellationToken);
        });
        return command;
    }
}
