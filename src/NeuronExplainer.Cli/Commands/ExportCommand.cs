using System.CommandLine;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer export</c>: writes a store as OpenAI's public dataset layout.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory holding store.db, or a postgresql:// store URL", Required = true };
        var to = new Option<string>("--to") { Description = "New (or empty) directory to write the layout into", Required = true };
        var explainer = new Option<string?>("--explainer") { Description = "Export only explanations of this explainer" };
        var simulator = new Option<string?>("--simulator") { Description = "Export only explanations scored with this simulator" };
        var layers = new Option<string>("--layers") { Description = "Layers to export: all, or a list such as 0,3-5", DefaultValueFactory = _ => "all" };
        var kind = new Option<string?>("--kind") { Description = "Export only units of this kind: neuron, head, sae (every SAE) or sae:ID" };
        var openAiFieldsOnly = new Option<bool>("--openai-fields-only")
        {
            Description = "Leave out our additions (score intervals, undefined reasons, token counts...) so OpenAI's Python loader reads the files; not lossless",
        };
        var command = new Command("export", """
            Write a store in OpenAI's public dataset layout: collated-activations/, explanations/,
            related-tokens/activation-based/, related-tokens/weight-based/, related-neurons/weight-based/,
            each as {layer}/{neuron}.json (explanations as .jsonl, one line per neuron); heads under
            head/{layer}/{head}.json and SAE latents under sae/{sae_id}/{layer}/{latent}.json in each (OpenAI's layout
            knows neurons only, so --openai-fields-only exports neurons only).

            Examples:
              neuron-explainer export --store runs/stories260K --to exports/stories260K
              neuron-explainer export --store runs/gpt2 --to exports/gpt2-baseline --explainer baseline
              neuron-explainer export --store runs/gpt2 --to exports/gpt2-for-openai-tools --openai-fields-only
              neuron-explainer export --store runs/gpt2-xl --to exports/gpt2-xl-layer-0 --layers 0
            """)
        {
            store, to, explainer, simulator, layers, kind, openAiFieldsOnly,
        };
        command.SetAction(parse =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            using var opened = NeuronStores.OpenExisting(parse.GetRequiredValue(store), StoreAccess.ReadOnly);
            string target = parse.GetRequiredValue(to);
            var options = new ExportOptions(parse.GetValue(explainer), parse.GetValue(simulator), parse.GetValue(openAiFieldsOnly),
                IndexList.Parse(parse.GetValue(layers)!, "--layers"), parse.GetValue(kind));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var summary = ConsoleProgress.Run(error, "export", "neurons", report =>
                OpenAiDataset.Export(opened, target, options, (done, total) => report(done, total)));
            double seconds = clock.Elapsed.TotalSeconds;
            output.WriteLine($"Exported {summary.Neurons:N0} neurons to {target} in {seconds:0.0} s ({summary.Neurons / Math.Max(seconds, 1e-3):N0} neurons/s)");
            DatasetSummary.Write(output, summary);
            return 0;
        });
        return command;
    }
}
