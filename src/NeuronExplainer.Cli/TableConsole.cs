using Spectre.Console;

namespace NeuronExplainer.Cli;

/// <summary>
/// A Spectre console over a command's writer: plain text (no escape codes) when the stream is redirected,
/// and wide enough that benchmark and activation tables do not wrap at the 80 columns assumed for pipes.
/// </summary>
internal static class TableConsole
{
    public static IAnsiConsole For(TextWriter writer)
    {
        var redirected = writer == Console.Out ? Console.IsOutputRedirected : writer != Console.Error || Console.IsErrorRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (redirected) console.Profile.Width = 160;
        return console;
    }
}
