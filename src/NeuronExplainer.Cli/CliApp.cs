using System.CommandLine;
using System.Reflection;

namespace NeuronExplainer.Cli;

/// <summary>
/// Builds the root command from every command of the tool and runs it with the tool's conventions:
/// exit code 2 for usage errors, 1 for failures, and errors as one line unless --verbose.
/// </summary>
public static class CliApp
{
    public const int UsageError = 2;
    public const int Failure = 1;

    /// <summary>Shows stack traces of failures; recognised on every command.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show full error details (stack traces)", Recursive = true };

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("neuron-explainer: explain the neurons of transformer language models with language models.");
        root.Options.Add(Verbose);
        foreach (var version in root.Options.OfType<VersionOption>()) version.Action = new PrintVersion();
        root.Subcommands.Add(Commands.RunCommand.Create());
        root.Subcommands.Add(Commands.CollectCommand.Create());
        root.Subcommands.Add(Commands.ShowCommand.Create());
        root.Subcommands.Add(Commands.ExplainCommand.Create());
        root.Subcommands.Add(Commands.ScoreCommand.Create());
        root.Subcommands.Add(Commands.ServeCommand.Create());
        root.Subcommands.Add(Commands.ActivationsCommand.Create());
        root.Subcommands.Add(Commands.GenerateCommand.Create());
        root.Subcommands.Add(Commands.BenchCommand.Create());
        root.Subcommands.Add(Commands.DownloadCommand.Create());
        root.Subcommands.Add(Commands.CheckLlmCommand.Create());
        root.Subcommands.Add(Commands.LedgerCommand.Create());
        root.Subcommands.Add(Commands.StatusCommand.Create());
        root.Subcommands.Add(Commands.ImportCommand.Create());
        root.Subcommands.Add(Commands.ExportCommand.Create());
        return root;
    }

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var parse = BuildRoot().Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine("Run with --help for usage.");
            return UsageError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is NeuronExplainerException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            stderr.WriteLine(parse.GetValue(Verbose) ? e.ToString() : $"error: {SettingFlags.Message(e)}");
            return Failure;
        }
        catch (Exception e)
        {
            stderr.WriteLine(parse.GetValue(Verbose) ? e.ToString() : $"error: {e.GetType().Name}: {e.Message} (run with --verbose for details)");
            return Failure;
        }
    }

    /// <summary>Prints this tool's version; the default action prints the entry assembly's, which in-process hosts replace.</summary>
    sealed class PrintVersion : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(ToolVersion);
            return 0;
        }
    }

    public static string ToolVersion =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
