using NeuronExplainer.Models.Hub;
using Spectre.Console;

namespace NeuronExplainer.Cli;

/// <summary>
/// Draws the library's hub download progress: one live bar per file while a download runs (a line per file
/// when the console is not interactive), then a summary line. The live display opens on the first file and
/// closes when that download ends, so a model found locally draws nothing.
/// </summary>
internal sealed class HubDownloadDisplay(IAnsiConsole console) : IProgress<HubDownloadProgress>, IDisposable
{
    readonly Dictionary<string, ProgressTask> tasks = [];
    readonly Lock gate = new();
    Task? display;
    TaskCompletionSource? finished;
    ProgressContext? context;

    public void Report(HubDownloadProgress value)
    {
        lock (gate)
        {
            switch (value)
            {
                case HubFileProgress file:
                    var task = TaskOf(file.File);
                    task.MaxValue = file.Size;
                    task.Value = file.Bytes;
                    if (!file.Done) break;
                    task.StopTask();
                    // Without a live display (stderr redirected), one line per file shows the progress.
                    if (!console.Profile.Capabilities.Interactive) console.WriteLine($"{file.File}: {file.Bytes / 1e6:F1} MB");
                    break;
                case HubDownloadFinished done:
                    Close();
                    double seconds = Math.Max(1e-3, done.Elapsed.TotalSeconds);
                    console.MarkupLine(Markup.Escape(
                        $"downloaded {done.Files} file(s) of {done.Repo}, {done.Bytes / 1e6:F1} MB in {seconds:F1} s ({done.Bytes / 1e6 / seconds:F1} MB/s) into {done.Directory}"));
                    break;
            }
        }
    }

    /// <summary>Closes a live display a failed download left open.</summary>
    public void Dispose()
    {
        lock (gate) Close();
    }

    ProgressTask TaskOf(string file)
    {
        if (tasks.TryGetValue(file, out var task)) return task;
        if (context is null) Open();
        return tasks[file] = context!.AddTask(Markup.Escape(file), maxValue: 1);
    }

    void Open()
    {
        var opened = new TaskCompletionSource();
        finished = new TaskCompletionSource();
        var until = finished.Task;
        display = console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                context = progress;
                opened.SetResult();
                await until;
            });
        opened.Task.GetAwaiter().GetResult();
    }

    void Close()
    {
        if (display is null) return;
        finished!.SetResult();
        display.GetAwaiter().GetResult();
        (display, finished, context) = (null, null, null);
        tasks.Clear();
    }
}
