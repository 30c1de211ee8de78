using System.CommandLine;
using NeuronExplainer.Models;

namespace NeuronExplainer.Cli.Commands;

/// <summary>The --model / --tokenizer pair shared by the commands that run a model.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model") { Description = "Model: a Hugging Face model directory or a llama2.c .bin checkpoint", Required = true };

    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "Tokenizer file or directory (default: found beside the model)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Tokenizer);
    }

    public Transformer Load(ParseResult parse) => ModelLoader.Load(parse.GetValue(Model)!, parse.GetValue(Tokenizer));
}
