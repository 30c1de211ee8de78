using System.CommandLine;
using NeuronExplainer.Models.Hub;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer download</c>: fetches a model or dataset files from the Hugging Face hub into the cache.</summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model")
        {
            Description = "Hub id (gpt2, org/name, org/name/folder, optionally @revision) or a local model path to check",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var dataset = new Option<string?>("--dataset") { Description = "Hub dataset id whose files to download instead of a model" };
        var pattern = new Option<string?>("--pattern") { Description = "With --dataset: repository paths to fetch (* in a folder, ** across folders)" };
        var revision = new Option<string>("--revision") { Description = "With --dataset: branch, tag or commit", DefaultValueFactory = _ => "main" };
        var command = new Command("download", """
            Download a model (config.json, safetensors weights and tokenizer files, or a llama2.c .bin with its
            tok*.bin) or dataset files from the Hugging Face hub into the cache, and print where they are.
            Later commands given the same --model use the cache without the network. Uses HF_ENDPOINT,
            HF_TOKEN, HF_HOME / HF_HUB_CACHE and HF_HUB_OFFLINE like the hub's own tools; partial downloads
            resume.

            Examples:
              neuron-explainer download gpt2
              neuron-explainer download karpathy/tinyllamas/stories260K
              neuron-explainer download --dataset roneneldan/TinyStories --pattern "TinyStories-valid.txt"
            """)
        {
            model, dataset, pattern, revision,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var progress = new HubDownloadDisplay(TableConsole.For(parse.InvocationConfiguration.Error));
            if (parse.GetValue(dataset) is { } datasetId)
            {
                if (parse.GetValue(model) is not null) throw new NeuronExplainerException("give either a model or --dataset, not both");
                string glob = parse.GetValue(pattern) ?? throw new NeuronExplainerException("--dataset needs --pattern (e.g. \"data/train-*.parquet\")");
                using var client = new HubClient(HubOptions.FromEnvironment(), progress);
                foreach (var path in await HubDatasets.DownloadFilesAsync(client, datasetId, glob, parse.GetValue(revision)!, cancel))
                    output.WriteLine(path);
                return 0;
            }
            string name = parse.GetValue(model) ?? throw new NeuronExplainerException("give a model (hub id or path) or --dataset with --pattern");
            var location = await ModelLocator.LocateAsync(name, progress: progress, cancel: cancel);
            output.WriteLine($"format      {location.Format}");
            output.WriteLine($"directory   {location.Directory}");
            if (location.Config is { } config) output.WriteLine($"config      {config}");
            foreach (var checkpoint in location.Checkpoints) output.WriteLine($"checkpoint  {checkpoint}");
            foreach (var tokenizer in location.TokenizerFiles) output.WriteLine($"tokenizer   {tokenizer}");
            return 0;
        });
        return command;
    }
}
