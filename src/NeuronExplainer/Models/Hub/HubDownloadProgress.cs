namespace NeuronExplainer.Models.Hub;

/// <summary>A step of a hub download, for whoever shows progress (the library draws nothing).</summary>
public abstract record HubDownloadProgress(HubRepo Repo);

/// <summary>One file: <see cref="Bytes"/> of <see cref="Size"/> so far (a resumed file starts at what it had); <see cref="Done"/> once it is verified and in place.</summary>
public sealed record HubFileProgress(HubRepo Repo, string File, long Bytes, long Size, bool Done) : HubDownloadProgress(Repo);

/// <summary>The end of one download of <see cref="Files"/> files, <see cref="Bytes"/> received in all, into <see cref="Directory"/>.</summary>
public sealed record HubDownloadFinished(HubRepo Repo, int Files, long Bytes, TimeSpan Elapsed, string Directory) : HubDownloadProgress(Repo);
