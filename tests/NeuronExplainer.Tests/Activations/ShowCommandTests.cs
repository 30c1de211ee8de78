using NeuronExplainer.Activations;
using NeuronExplainer.Cli.Commands;

namespace NeuronExplainer.Tests.Activations;

public sealed class ShowCommandTests
{
    [Fact]
    public void TokensAreShadedByActivationAndEscaped()
    {
        var record = new ActivationRecord(["[a]", " b", "\n", "c"], [1.0, 0.5, 0.0, -2.0]);
        string markup = ShowCommand.Shade(record, 1.0);
        Assert.Equal("[black on rgb(0,255,0)][[a]][/][black on rgb(20,158,20)] b[/]↵c", markup);
        Assert.Equal("[[a]] b↵c", ShowCommand.Shade(record, 0));
    }
}
