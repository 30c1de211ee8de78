using System.CommandLine;
using System.Reflection;

namespace NeuronExplainer.Cli;

/// <summary>Builds the root command from every command of the tool and runs it.</summary>
public static class CliApp
{
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("neuron-explainer: explain the neurons of transformer language models with language models.");
        return root;
    }

    public static int Run(string[] args) => BuildRoot().Parse(args).Invoke();

    public static string ToolVersion =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
