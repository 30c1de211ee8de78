using NeuronExplainer.Cli;

namespace NeuronExplainer.Tests;

/// <summary>Runs the CLI in-process, as a user would type it, and captures its exit code, stdout and stderr.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
