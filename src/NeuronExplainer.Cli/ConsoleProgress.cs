using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace NeuronExplainer.Cli;

/// <summary>
/// Progress of a long command on stderr: what is done, the rate and the ETA. A live Spectre bar on a
/// terminal; when stderr is redirected (CI, logs, tests) a plain line every few seconds and one at the
/// end, so logs never fill with escape codes.
/// </summary>
public static class ConsoleProgress
{
    static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="work"/>, which reports its fraction done (0..1) and a short status
    /// (e.g. "120,000 tokens, 9,500 tokens/s") through the callback it is given.
    /// </summary>
    public static async Task<T> RunAsync<T>(TextWriter stderr, string description, Func<Action<double, string>, Task<T>> work)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal) return await RunPlainAsync(stderr, description, work);

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        return await console.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), autoStart: true, maxValue: 1);
                var result = await work((fraction, status) =>
                {
                    task.Value = Math.Clamp(fraction, 0, 1);
                    task.Description = Markup.Escape($"{description} {status}");
                });
                task.Value = task.MaxValue;
                return result;
            });
    }

    /// <inheritdoc cref="RunAsync{T}(TextWriter, string, Func{Action{double, string}, Task{T}})"/>
    public static T Run<T>(TextWriter stderr, string description, Func<Action<double, string>, T> work) =>
        RunAsync(stderr, description, report => Task.FromResult(work(report))).GetAwaiter().GetResult();

    /// <summary>Runs <paramref name="work"/>, which reports (done, total) items of <paramref name="unit"/>.</summary>
    public static T Run<T>(TextWriter stderr, string description, string unit, Func<Action<int, int>, T> work) =>
        Run(stderr, description, report => work(Counted(report, unit)));

    /// <inheritdoc cref="Run{T}(TextWriter, string, string, Func{Action{int, int}, T})"/>
    public static Task<T> RunAsync<T>(TextWriter stderr, string description, string unit, Func<Action<int, int>, Task<T>> work) =>
        RunAsync(stderr, description, report => work(Counted(report, unit)));

    static Action<int, int> Counted(Action<double, string> report, string unit)
    {
        var clock = Stopwatch.StartNew();
        return (done, total) => report(done / (double)Math.Max(1, total),
            string.Create(CultureInfo.InvariantCulture, $"{done:N0}/{total:N0} {unit}, {done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):N1}/s"));
    }

    static async Task<T> RunPlainAsync<T>(TextWriter stderr, string description, Func<Action<double, string>, Task<T>> work)
    {
        var clock = Stopwatch.StartNew();
        var lastLine = TimeSpan.Zero;
        var gate = new Lock();
        return await work((fraction, status) =>
        {
            lock (gate)
            {
                if (fraction < 1 && clock.Elapsed - lastLine < LineInterval) return;
                lastLine = clock.Elapsed;
                string eta = fraction > 0
                    ? TimeSpan.FromSeconds(Math.Ceiling(clock.Elapsed.TotalSeconds * (1 - fraction) / fraction)).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture)
                    : "--:--:--";
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{description}: {status} ({100 * fraction:0}%), ETA {eta}"));
            }
        });
    }
}
