using System.CommandLine;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>show</c>: a neuron's collected record in the terminal, tokens shaded by activation.</summary>
public static class ShowCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory of the store, or a postgresql:// store URL", Required = true };
        var neuron = new Option<string>("--neuron") { Description = "Unit: a neuron as LAYER/NEURON (3/127), head:LAYER/HEAD or sae:SAE_ID/LATENT", Required = true };
        var count = new Option<int>("--records") { Description = "Records shown per section", DefaultValueFactory = _ => 10 };
        var command = new Command("show", """
            Print a neuron's records in the terminal with tokens coloured by activation.

            Examples:
              neuron-explainer show --store runs/stories260K --neuron 3/127
              neuron-explainer show --store runs/stories260K --neuron 0/5 --records 3
            """) { store, neuron, count };
        command.SetAction(parse =>
        {
            NeuronId id;
            try { id = NeuronId.Parse(parse.GetValue(neuron)!); }
            catch (FormatException e) { throw new NeuronExplainerException($"--neuron: {e.Message}"); }
            int shown = parse.GetValue(count);
            if (shown < 1) throw new NeuronExplainerException($"--records is {shown}; expected at least 1");
            using var neuronStore = NeuronStores.OpenExisting(parse.GetValue(store)!, StoreAccess.ReadOnly);
            var record = neuronStore.GetNeuronRecord(id)
                ?? throw new NeuronExplainerException($"store '{neuronStore.Location}' has no record of {(id.Kind == UnitKind.Neuron ? "neuron " : "")}{id}: {ExplanationOptions.Missing(neuronStore.ListNeurons(), id)}");
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) });
            Print(console, record, neuronStore.GetActivationBasedTokens(id), neuronStore.GetWeightBasedTokens(id), neuronStore.GetConnections(id), shown);
            return 0;
        });
        return command;
    }

    internal static void Print(IAnsiConsole console, NeuronRecord record, TokenLookupTableSummaryOfNeuron? tokens,
        WeightBasedSummaryOfNeuron? weights, NeuronConnections? connections, int shown)
    {
        double scale = record.MaxActivation;
        console.Write(new Rule($"{(record.NeuronId.Kind == UnitKind.Neuron ? "neuron " : "")}{record.NeuronId}").LeftJustified());
        console.MarkupLineInterpolated(
            $"max {scale:G4}   mean {Number(record.Mean)}   variance {Number(record.Variance)}   skewness {Number(record.Skewness)}   kurtosis {Number(record.Kurtosis)}");
        Section(console, "top-activating windows", record.MostPositiveActivationRecords.Take(shown), scale);
        Section(console, "random windows", record.RandomSample.Take(shown), scale);
        if (record.RandomSampleByQuantile is { } bins && record.QuantileBoundaries is { } edges)
            for (int b = 0; b < bins.Count; b++)
            {
                string range = b + 1 < edges.Count ? $" (window max {edges[b]:G3} .. {edges[b + 1]:G3})" : "";
                Section(console, $"quantile {b + 1} of {bins.Count}{range}", bins[b].Take(shown), scale);
            }
        if (tokens is not null)
            List(console, "tokens with the highest mean activation", tokens.Tokens, tokens.AverageActivations, tokens.Counts);
        if (weights is not null)
        {
            List(console, "input tokens (weights, positive)", weights.InputPositive.Tokens, weights.InputPositive.Strengths, null);
            List(console, "output tokens (weights, positive)", weights.OutputPositive.Tokens, weights.OutputPositive.Strengths, null);
        }
        if (connections?.Upstream is { } up) List(console, "upstream neurons (weights, positive)", up.TopPositiveNeurons, up.TopPositiveWeights, null);
        if (connections?.Downstream is { } down) List(console, "downstream neurons (weights, positive)", down.TopPositiveNeurons, down.TopPositiveWeights, null);
    }

    static string Number(double? value) => value is { } v ? v.ToString("G4", CultureInfo.InvariantCulture) : "undefined";

    static void Section(IAnsiConsole console, string title, IEnumerable<ActivationRecord> records, double scale)
    {
        console.MarkupLineInterpolated($"[bold]{title}[/]");
        foreach (var record in records)
            console.MarkupLine($"  [dim]{record.MaxActivation,7:F3}[/]  {Shade(record, scale)}");
    }

    /// <summary>Each token on a green background whose strength is its activation over the neuron's max (negatives unshaded).</summary>
    internal static string Shade(ActivationRecord record, double scale)
    {
        var line = new System.Text.StringBuilder();
        for (int i = 0; i < record.Tokens.Count; i++)
        {
            string token = Markup.Escape(record.Tokens[i].Replace("\n", "↵"));
            double level = scale > 0 ? Math.Clamp(record.Activations[i] / scale, 0, 1) : 0;
            if (level < 0.05) line.Append(token);
            else
            {
                int green = (int)Math.Round(60 + 195 * level), other = (int)Math.Round(40 * (1 - level));
                line.Append(CultureInfo.InvariantCulture, $"[black on rgb({other},{green},{other})]{token}[/]");
            }
        }
        return line.ToString();
    }

    static void List(IAnsiConsole console, string title, IReadOnlyList<string> names, IReadOnlyList<double> values, IReadOnlyList<long>? counts)
    {
        var items = names.Take(15).Select((n, i) =>
            $"{Markup.Escape(n.Replace("\n", "↵"))} [dim]{values[i].ToString("G3", CultureInfo.InvariantCulture)}{(counts is null ? "" : $" x{counts[i]}")}[/]");
        console.MarkupLine($"[bold]{Markup.Escape(title)}[/]: {string.Join(", ", items)}");
    }
}
