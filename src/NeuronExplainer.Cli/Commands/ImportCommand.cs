using System.CommandLine;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer import</c>: loads OpenAI's public dataset layout into a store.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Directory in OpenAI's layout (e.g. their downloaded GPT-2 files, or an export)", Required = true };
        var store = new Option<string>("--store") { Description = "Run directory to import into (created if missing), or a postgresql:// store URL", Required = true };
        var source = new Option<string>("--source")
        {
            Description = "Explainer/simulator name to store the imported explanations under",
            DefaultValueFactory = _ => "openai",
        };
        var force = new Option<bool>("--force")
        {
            Description = "Import even where that replaces what the store holds or mixes another dataset into a collected store",
        };
        var command = new Command("import", """
            Load files in OpenAI's public dataset layout ({kind}/{layer}/{neuron}.json under collated-activations/,
            explanations/, related-tokens/..., related-neurons/weight-based/) into a store. The import is one
            transaction: a bad file stops it with the file named and the store keeps what it had. Nothing is replaced
            or mixed in silently: records go only into a store without a collection, explanations only of the store's
            neurons and under a --source name it does not hold yet, unless --force.

            Examples:
              neuron-explainer import --from downloads/gpt2-small --store runs/openai-gpt2-small
              neuron-explainer import --from exports/stories260K --store runs/copy --source baseline
            """)
        {
            from, store, source, force,
        };
        command.SetAction(parse =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            using var opened = NeuronStores.Open(parse.GetRequiredValue(store));
            string input = parse.GetRequiredValue(from);
            var summary = ConsoleProgress.Run(error, "import", "neurons", report =>
                OpenAiDataset.Import(input, opened, parse.GetRequiredValue(source), (done, total) => report(done, total), parse.GetValue(force)));
            output.WriteLine($"Imported {summary.Neurons:N0} neurons into {opened.Location}");
            DatasetSummary.Write(output, summary);
            return 0;
        });
        return command;
    }
}
