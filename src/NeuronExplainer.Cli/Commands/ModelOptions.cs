using System.CommandLine;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Models.Sae;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>The --model / --tokenizer pair shared by the commands that run a model.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model") { Description = "Model: a Hugging Face model directory, a llama2.c .bin checkpoint, or a hub id (gpt2, karpathy/tinyllamas/stories260K)", Required = true };

    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "Tokenizer file or directory (default: found beside the model)" };

    public Option<string> DType { get; } = new("--dtype")
    {
        Description = "How the weight matrices are held: float32, or bf16 (half the memory; activations, norms and accumulation stay float32; see the README for when it is safe)",
        DefaultValueFactory = _ => "float32",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Tokenizer);
        command.Options.Add(DType);
    }


    /// <summary>
    /// Loads the model a store's collection ran (its manifest's model, with the tokenizer found beside it), for scorers
    /// that run it (ablation), and the SAE of each latent (by its id) from the folder the collection read it from; a store without
    /// a collection is an error.
    /// </summary>
    public static Func<NeuronAblation> AblationOfStore(INeuronStore store, ParseResult parse) => () =>
    {
        var manifest = store.GetManifest() ?? throw new NeuronExplainerException($"store {store.Location} has no collection, so there is no model to run; run collect first");
        using var progress = new HubDownloadDisplay(TableConsole.For(parse.InvocationConfiguration.Error));
        var settings = manifest.Settings;
        // A latent's SAE is found by its id among the SAEs the collection recorded.
        var saes = CollectedSae.FromManifest(settings);
        SparseAutoencoder? Sae(string id) => saes.FirstOrDefault(s => s.Id == id) is { } sae ? SaeLoader.Load(sae.Source) : null;
        // The model runs with the weights its collection used, so ablation's clean pass is the collected one.
        var dtype = settings.TryGetValue(Collector.DTypeSetting, out var recorded) ? WeightDTypeNames.Parse(recorded, Collector.DTypeSetting) : WeightDType.Float32;
        var model = ModelLoader.Load(ModelLocator.Locate(manifest.Model, progress: progress), manifest.Model, dtype: dtype);
        if (model.PrecisionNotice is { } notice) parse.InvocationConfiguration.Error.WriteLine($"note: {notice}");
        return new NeuronAblation(model, Sae);
    };

    /// <summary>
    /// Locates the model (downloading a hub id on first use, with progress on stderr) and loads it with the weights
    /// held as --dtype; for bf16 the engine's notice of the product path goes to stderr.
    /// </summary>
    public Transformer Load(ParseResult parse)
    {
        var model = parse.GetValue(Model)!;
        var dtype = WeightDTypeNames.Parse(parse.GetValue(DType)!, "--dtype");
        using var progress = new HubDownloadDisplay(TableConsole.For(parse.InvocationConfiguration.Error));
        var loaded = ModelLoader.Load(ModelLocator.Locate(model, progress: progress, tokenizer: parse.GetValue(Tokenizer)), model, dtype: dtype);
        if (loaded.PrecisionNotice is { } notice) parse.InvocationConfiguration.Error.WriteLine($"note: {notice}");
        return loaded;
    }
}
