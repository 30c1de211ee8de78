using System.Diagnostics;
using Spectre.Console;

namespace NeuronExplainer.Cli;

/// <summary>
/// Progress of a long command on stderr: items done, rate and ETA. A live Spectre bar on a terminal;
/// when stderr is redirected (CI, logs, tests) a plain line every few seconds and one at the end.
/// </summary>
public static class ConsoleProgress
{
    static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    /// <summary>Runs <paramref name="work"/>, which reports (done, total) through the callback it is given.</summary>
    public static T Run<T>(TextWriter stderr, string description, string unit, Func<Action<int, int>, T> work)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        return terminal ? RunLive(stderr, description, work) : RunPlain(stderr, description, unit, work);
    }

    static T RunLive<T>(TextWriter stderr, string description, Func<Action<int, int>, T> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        return console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var task = context.AddTask(description, autoStart: true, maxValue: 1);
                var clock = Stopwatch.StartNew();
                return work((done, total) =>
                {
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                    task.Description = $"{description} {done:N0}/{total:N0} ({Rate(done, clock.Elapsed):N0}/s)";
                });
            });
    }

    static T RunPlain<T>(TextWriter stderr, string description, string unit, Func<Action<int, int>, T> work)
    {
        var clock = Stopwatch.StartNew();
        var lastLine = TimeSpan.Zero;
        return work((done, total) =>
        {
            if (done < total && clock.Elapsed - lastLine < LineInterval) return;
            lastLine = clock.Elapsed;
            double rate = Rate(done, clock.Elapsed);
            string eta = rate > 0 ? TimeSpan.FromSeconds(Math.Ceiling((total - done) / rate)).ToString(@"hh\:mm\:ss") : "--:--:--";
            stderr.WriteLine($"{description}: {done:N0}/{total:N0} {unit} ({100.0 * done / Math.Max(1, total):0}%), {rate:N1}/s, ETA {eta}");
        });
    }

    static double Rate(int done, TimeSpan elapsed) => elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
}
