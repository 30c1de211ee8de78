using System.Globalization;
using System.Text;

namespace NeuronExplainer.Activations;

/// <summary>
/// The collection checkpoint as a file beside the store, streamed in and out (never one in-memory blob), with
/// a small marker row in the store naming it. A new checkpoint goes to a new numbered file, flushed to disk,
/// before the marker moves to it; older files are deleted only after that, so a run killed at any point
/// resumes from the last checkpoint the store names.
/// </summary>
sealed class CheckpointFile(string directory, string stage)
{
    const string Magic = "NEXP-CHECKPOINT";

    string PathOf(long sequence) => Path.Combine(directory, $"{stage}-checkpoint-{sequence.ToString(CultureInfo.InvariantCulture)}.bin");

    /// <summary>The marker the store keeps: the file's sequence number and length.</summary>
    public static byte[] Marker(long sequence, long length) => Encoding.UTF8.GetBytes(FormattableString.Invariant($"{Magic} {sequence} {length}"));

    static (long Sequence, long Length) ParseMarker(byte[] marker)
    {
        var parts = Encoding.UTF8.GetString(marker).Split(' ');
        if (parts.Length != 3 || parts[0] != Magic
            || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out long sequence) || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out long length))
            throw new NeuronExplainerException($"the store's collection checkpoint was written by another version (it is not a checkpoint file marker); {Collector.StartOverAdvice}");
        return (sequence, length);
    }

    /// <summary>
    /// Streams a new checkpoint into the next numbered file; returns the marker that names it. <paramref name="expectedBytes"/>
    /// (the plan's size) is only for the error a failed write gives.
    /// </summary>
    public byte[] Write(byte[]? previousMarker, long expectedBytes, Action<BinaryWriter> write)
    {
        long sequence = previousMarker is null ? 1 : ParseMarker(previousMarker).Sequence + 1;
        string path = PathOf(sequence), partial = path + ".partial";
        long written = 0;
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                try
                {
                    using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true)) write(writer);
                    stream.Flush(flushToDisk: true);
                }
                finally
                {
                    written = stream.Position;
                }
            }
            File.Move(partial, path, overwrite: true);
            return Marker(sequence, new FileInfo(path).Length);
        }
        catch (IOException e)
        {
            TryDelete(partial);
            string previous = previousMarker is null ? "no checkpoint yet, so a new collect starts over" : $"checkpoint {sequence - 1}, so a new collect resumes from there";
            throw new NeuronExplainerException(
                $"could not write the collection checkpoint {path} ({e.Message}) after {written:N0} of about {expectedBytes:N0} bytes, with {FreeBytes():N0} bytes free on its disk now; " +
                $"the store keeps {previous} once there is room");
        }
    }

    long FreeBytes()
    {
        try { return new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace; }
        catch (IOException) { return 0; }
    }

    /// <summary>Opens the checkpoint a marker names, after checking that the file is whole.</summary>
    public BinaryReader Open(byte[] marker)
    {
        var (sequence, length) = ParseMarker(marker);
        string path = PathOf(sequence);
        if (!File.Exists(path))
            throw new NeuronExplainerException($"the store names collection checkpoint {path}, which is missing; {Collector.StartOverAdvice}");
        if (new FileInfo(path).Length != length)
            throw new NeuronExplainerException($"collection checkpoint {path} holds {new FileInfo(path).Length} bytes where the store recorded {length}; {Collector.StartOverAdvice}");
        return new BinaryReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20), Encoding.UTF8);
    }

    /// <summary>Deletes every checkpoint file of this stage except the one <paramref name="keep"/> names (null: all).</summary>
    public void DeleteOthers(byte[]? keep)
    {
        string? kept = keep is null ? null : PathOf(ParseMarker(keep).Sequence);
        if (!Directory.Exists(directory)) return;
        foreach (var file in Directory.EnumerateFiles(directory, $"{stage}-checkpoint-*.bin*"))
            if (file != kept) TryDelete(file);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
