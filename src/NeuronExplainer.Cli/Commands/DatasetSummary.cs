using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>The one-screen summary both transfer commands end with.</summary>
static class DatasetSummary
{
    public static void Write(TextWriter output, DatasetTransferSummary summary)
    {
        output.WriteLine($"  neuron records (collated activations): {summary.NeuronRecords:N0}");
        output.WriteLine($"  explanation results:                   {summary.ExplanationResults:N0}");
        output.WriteLine($"  activation-based related tokens:       {summary.ActivationBasedTokens:N0}");
        output.WriteLine($"  weight-based related tokens:           {summary.WeightBasedTokens:N0}");
        output.WriteLine($"  weight-based related neurons:          {summary.Connections:N0}");
    }
}
