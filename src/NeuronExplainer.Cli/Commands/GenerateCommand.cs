using System.CommandLine;
using System.Diagnostics;
using NeuronExplainer.Models;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>generate</c>: greedy continuation of a prompt, a quick check that a model loads and runs correctly.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var modelOptions = new ModelOptions();
        var prompt = new Option<string>("--prompt") { Description = "Prompt text (empty: start from BOS)", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 64 };

        var command = new Command("generate", """
            Greedy text continuation with a local model (a quick check that a model loads and runs right).

            Examples:
              neuron-explainer generate --model ../shared/models/stories260K/stories260K.bin --max-tokens 40
              neuron-explainer generate --model gpt2 --prompt "The meaning of life is" --max-tokens 20
            """);
        modelOptions.AddTo(command);
        command.Options.Add(prompt);
        command.Options.Add(maxTokens);
        command.SetAction(parse =>
        {
            var limit = parse.GetValue(maxTokens);
            if (limit < 0) throw new NeuronExplainerException($"--max-tokens must be >= 0, got {limit}");
            using var model = modelOptions.Load(parse);
            var tokenizer = model.Tokenizer;
            var text = parse.GetValue(prompt)!;
            List<int> context = [];
            if (model.Info.PrependsBos && tokenizer.BosId is { } bos) context.Add(bos);
            context.AddRange(tokenizer.Encode(text));
            if (context.Count == 0 && tokenizer.EosId is { } eos) context.Add(eos); // GPT-2 starts documents after <|endoftext|>

            var output = parse.InvocationConfiguration.Output;
            output.Write(text);
            var start = context.Count;
            // Decode prompt and continuation together (sentencepiece's leading-space rule depends on what comes
            // before) and print what the new token added, so multi-byte characters appear once complete.
            var printed = tokenizer.Decode(context.ToArray());
            var clock = Stopwatch.StartNew();
            foreach (var id in GreedyGenerator.Generate(model, context, limit))
            {
                context.Add(id);
                var decoded = tokenizer.Decode(context.ToArray());
                if (decoded.StartsWith(printed, StringComparison.Ordinal)) output.Write(decoded[printed.Length..]);
                printed = decoded;
            }
            output.WriteLine();
            var generated = context.Count - start;
            parse.InvocationConfiguration.Error.WriteLine($"{generated} tokens in {clock.Elapsed.TotalSeconds:0.00} s ({generated / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):0.0} tokens/s, GEMM: {model.GemmName})");
            return 0;
        });
        return command;
    }
}
