using System.Diagnostics;

namespace NeuronExplainer.Tests.Storage;

/// <summary>
/// Makes a directory and the files in it unwritable for this process until disposed: by permission bits for a
/// normal user, and with <c>chattr +i</c> (immutable) for root, whom permission bits do not stop. Fails loudly
/// when neither works, and checks the directory really refuses a new file, so a test using it cannot pass vacuously.
/// </summary>
sealed class UnwritableDirectory : IDisposable
{
    readonly string directory;
    readonly string[] entries;
    readonly bool root = Environment.IsPrivilegedProcess;

    public UnwritableDirectory(string directory)
    {
        this.directory = directory;
        entries = [.. Directory.EnumerateFiles(directory), directory];
        if (root) Chattr("+i");
        else
        {
            foreach (var file in entries[..^1]) SetMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            SetMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        }
        try
        {
            File.WriteAllText(Path.Combine(directory, "probe"), "");
        }
        catch (UnauthorizedAccessException)
        {
            return;
        }
        catch (IOException)
        {
            return;
        }
        Dispose();
        throw new InvalidOperationException($"{directory} is still writable after locking it; this test needs a file system that honours chattr +i or permissions");
    }

    static void SetMode(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("locking a directory is written for Linux and macOS");
        File.SetUnixFileMode(path, mode);
    }

    void Chattr(string flag)
    {
        using var process = Process.Start(new ProcessStartInfo("chattr", [flag, .. entries]) { RedirectStandardError = true })
            ?? throw new InvalidOperationException("chattr did not start");
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"chattr {flag} failed (exit {process.ExitCode}): {error.Trim()}; this test needs chattr on a file system that supports it (ext4, xfs, btrfs)");
    }

    public void Dispose()
    {
        if (root) Chattr("-i");
        else
        {
            SetMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var file in entries[..^1]) SetMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Delete(Path.Combine(directory, "probe"));
    }
}
