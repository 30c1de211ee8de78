using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NeuronExplainer.Models;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>activations</c>: the MLP neuron activations (blocks.L.mlp.hook_post) of a text, per token.</summary>
public static class ActivationsCommand
{
    public static Command Create()
    {
        var modelOptions = new ModelOptions();
        var text = new Option<string>("--text") { Description = "Text to run through the model", Required = true };
        var layers = new Option<int[]>("--layer") { Description = "Layer(s) to report (repeatable; default: all)", AllowMultipleArgumentsPerToken = true };
        var json = new Option<bool>("--json") { Description = "Print JSON: model, tokens, token_ids and per-layer activations [token][neuron]" };
        var top = new Option<int>("--top") { Description = "Neurons per token in the table view", DefaultValueFactory = _ => 5 };

        var command = new Command("activations", """
            Show a model's MLP neuron activations (blocks.L.mlp.hook_post) for a text: as JSON, or a table of each
            token's most active neurons.

            Examples:
              neuron-explainer activations --model ../shared/models/stories260K/stories260K.bin --text "Lily saw a cat." --json
              neuron-explainer activations --model gpt2 --text "The Eiffel Tower is in Paris" --layer 3 --layer 5
            """);
        modelOptions.AddTo(command);
        command.Options.Add(text);
        command.Options.Add(layers);
        command.Options.Add(json);
        command.Options.Add(top);
        command.SetAction(parse =>
        {
            using var model = modelOptions.Load(parse);
            var requested = parse.GetValue(layers) is { Length: > 0 } chosen ? chosen.Distinct().ToArray() : Enumerable.Range(0, model.Info.LayerCount).ToArray();
            foreach (var layer in requested)
                if ((uint)layer >= (uint)model.Info.LayerCount)
                    throw new NeuronExplainerException($"--layer {layer} is out of range; the model has {model.Info.LayerCount} layers (0-{model.Info.LayerCount - 1})");

            var result = Run(model, parse.GetValue(text)!, requested);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) WriteJson(output, parse.GetValue(modelOptions.Model)!, result);
            else WriteTable(output, result, Math.Max(1, parse.GetValue(top)));
            return 0;
        });
        return command;
    }

    /// <summary>Per requested layer, activations [token][neuron] for the text's tokens (BOS, when prepended, excluded).</summary>
    internal sealed record TextActivations(int[] TokenIds, string[] Tokens, int MlpDim, IReadOnlyList<(int Layer, float[] Activations)> Layers);

    internal static TextActivations Run(ITransformerModel model, string text, IReadOnlyList<int> layers)
    {
        var ids = model.Tokenizer.Encode(text);
        if (ids.Length == 0) throw new NeuronExplainerException("--text has no tokens");
        var bos = model.Info.PrependsBos && model.Tokenizer.BosId is { } b ? 1 : 0;
        int[] window = bos == 1 ? [model.Tokenizer.BosId!.Value, .. ids] : ids;
        if (window.Length > model.Info.MaxContext)
            throw new NeuronExplainerException($"--text is {ids.Length} tokens; the model's context holds {model.Info.MaxContext - bos}");

        var hooks = layers.Select(ForwardRequest.MlpPost).ToList();
        var forward = model.Forward(window, 1, window.Length, new ForwardRequest(hooks));
        var width = model.Info.MlpDim;
        var perLayer = layers.Select((layer, i) => (layer, forward.Hook(hooks[i]).Slice(bos * width, ids.Length * width).ToArray())).ToList();
        return new TextActivations(ids, ids.Select(model.Tokenizer.TokenString).ToArray(), width, perLayer);
    }

    private static void WriteJson(TextWriter output, string modelName, TextActivations result)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("model", modelName);
            json.WriteStartArray("tokens");
            foreach (var token in result.Tokens) json.WriteStringValue(token);
            json.WriteEndArray();
            json.WriteStartArray("token_ids");
            foreach (var id in result.TokenIds) json.WriteNumberValue(id);
            json.WriteEndArray();
            json.WriteStartArray("layers");
            foreach (var (layer, activations) in result.Layers)
            {
                json.WriteStartObject();
                json.WriteNumber("layer", layer);
                json.WriteString("hook", ForwardRequest.MlpPost(layer));
                json.WriteStartArray("activations");
                for (var t = 0; t < result.TokenIds.Length; t++)
                {
                    json.WriteStartArray();
                    foreach (var value in activations.AsSpan(t * result.MlpDim, result.MlpDim)) json.WriteNumberValue(value);
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void WriteTable(TextWriter output, TextActivations result, int top)
    {
        var console = TableConsole.For(output);
        foreach (var (layer, activations) in result.Layers)
        {
            var table = new Table().Title($"layer {layer}: top {top} neurons per token ({ForwardRequest.MlpPost(layer)})");
            table.AddColumn("#").AddColumn("token").AddColumn("id").AddColumn("neuron (activation)");
            for (var t = 0; t < result.TokenIds.Length; t++)
            {
                var row = activations.AsSpan(t * result.MlpDim, result.MlpDim).ToArray();
                var best = Enumerable.Range(0, row.Length).OrderByDescending(n => row[n]).Take(top)
                    .Select(n => $"{n} ({row[n].ToString("0.###", CultureInfo.InvariantCulture)})");
                table.AddRow(t.ToString(CultureInfo.InvariantCulture), Markup.Escape(Visible(result.Tokens[t])),
                    result.TokenIds[t].ToString(CultureInfo.InvariantCulture), string.Join("  ", best));
            }
            console.Write(table);
        }
    }

    /// <summary>Shows leading/trailing spaces and control characters of a token so table cells stay readable.</summary>
    private static string Visible(string token) => JsonSerializer.Serialize(token);
}
