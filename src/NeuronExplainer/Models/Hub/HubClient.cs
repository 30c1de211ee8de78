using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace NeuronExplainer.Models.Hub;

/// <summary>
/// Lists and downloads files of Hugging Face hub repositories into the <see cref="HubCache"/>: resumable
/// (<c>.incomplete</c> files continued with Range requests, also after a response is cut off), checked
/// against the size and hash the hub gives (tree listing, or <c>X-Linked-Size</c> / <c>X-Linked-Etag</c> /
/// <c>ETag</c> headers), reporting its progress to whoever draws it (the CLI shows bars on stderr).
/// </summary>
public sealed class HubClient : IDisposable
{
    private readonly HubOptions options;
    private readonly HttpClient http;
    private readonly IProgress<HubDownloadProgress>? progress;

    /// <param name="progress">Receives every file's bytes as they arrive and the end of each download; none by default.</param>
    public HubClient(HubOptions options, IProgress<HubDownloadProgress>? progress = null, HttpMessageHandler? handler = null)
    {
        this.options = options;
        // Redirects are followed by hand: the first hop carries the X-Linked-* headers, and the token
        // must not travel to another host (the hub redirects large files to a CDN).
        http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = TimeSpan.FromMinutes(2),
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd($"neuron-explainer/{typeof(HubClient).Assembly.GetName().Version}");
        this.progress = progress;
    }

    public HubOptions Options => options;

    public void Dispose() => http.Dispose();

    /// <summary>Files under <paramref name="folder"/> ("" for the root), through the hub's tree API.</summary>
    public async Task<IReadOnlyList<HubFile>> ListFilesAsync(HubRepo repo, string folder, bool recursive, CancellationToken cancel = default)
    {
        RequireOnline(repo, folder.Length > 0 ? folder : "the file list");
        var files = new List<HubFile>();
        string? url = repo.TreeUrl(options.Endpoint, folder, recursive);
        while (url is not null)
        {
            using var hop = await SendAsync(url, range: null, cancel);
            var response = hop.Response;
            if (!response.IsSuccessStatusCode) throw StatusError(response, repo, folder.Length > 0 ? $"folder '{folder}'" : "the file list", url);
            using var document = await ReadJsonAsync(response, url, cancel);
            if (document.RootElement.ValueKind != JsonValueKind.Array) throw new NeuronExplainerException($"{url}: expected a JSON array of files");
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (entry.TryGetProperty("type", out var type) && type.GetString() != "file") continue;
                files.Add(ParseListedFile(entry, url));
            }
            url = NextPage(response, url);
        }
        return files;
    }

    private static HubFile ParseListedFile(JsonElement entry, string url)
    {
        if (!entry.TryGetProperty("path", out var path) || path.ValueKind != JsonValueKind.String)
            throw new NeuronExplainerException($"{url}: a listed file has no \"path\"");
        long? size = entry.TryGetProperty("size", out var s) && s.TryGetInt64(out long sizeValue) ? sizeValue : null;
        string? gitSha1 = entry.TryGetProperty("oid", out var oid) ? HexOrNull(oid.GetString(), 40) : null;
        string? sha256 = null;
        if (entry.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
        {
            // For an LFS file, "oid" is the pointer's git hash; the content has the LFS sha256.
            gitSha1 = null;
            sha256 = lfs.TryGetProperty("oid", out var lfsOid) ? HexOrNull(lfsOid.GetString(), 64) : null;
            if (lfs.TryGetProperty("size", out var lfsSize) && lfsSize.TryGetInt64(out long lfsSizeValue)) size = lfsSizeValue;
        }
        return new HubFile(path.GetString()!, size, sha256, gitSha1);
    }

    private static string? NextPage(HttpResponseMessage response, string url)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var part in string.Join(",", links).Split(','))
        {
            if (!part.Contains("rel=\"next\"", StringComparison.Ordinal)) continue;
            int open = part.IndexOf('<'), close = part.IndexOf('>');
            if (open >= 0 && close > open) return new Uri(new Uri(url), part[(open + 1)..close]).ToString();
        }
        return null;
    }

    /// <summary>
    /// Downloads <paramref name="files"/> (skipping those already cached), reporting each file's progress,
    /// and returns their local paths in the same order.
    /// </summary>
    public async Task<IReadOnlyList<string>> DownloadAsync(HubRepo repo, IReadOnlyList<HubFile> files, CancellationToken cancel = default)
    {
        var paths = files.Select(f => HubCache.LocalPath(options, repo, f.Path)).ToList();
        var missing = files.Where((f, i) => !File.Exists(paths[i])).ToList();
        if (missing.Count == 0) return paths;
        foreach (var file in missing) RequireOnline(repo, file.Path);

        var started = DateTime.UtcNow;
        long total = 0;
        foreach (var file in missing)
            total += await DownloadFileAsync(repo, file, HubCache.LocalPath(options, repo, file.Path), cancel);
        progress?.Report(new HubDownloadFinished(repo, missing.Count, total, DateTime.UtcNow - started, HubCache.SnapshotDirectory(options, repo)));
        return paths;
    }

    /// <summary>One file into <paramref name="target"/>; returns the bytes received.</summary>
    private async Task<long> DownloadFileAsync(HubRepo repo, HubFile file, string target, CancellationToken cancel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string partial = target + ".incomplete";
        string url = repo.ResolveUrl(options.Endpoint, file.Path);
        long received = 0;
        Expected expected = new(file.Size, file.Sha256, file.GitSha1);
        for (int attempt = 1; ; attempt++)
        {
            long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            try
            {
                using var hop = await SendAsync(url, have > 0 ? have : null, cancel);
                var response = hop.Response;
                if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                {
                    // The partial file is no prefix of the current file (or is all of it): start over.
                    File.Delete(partial);
                    continue;
                }
                if (!response.IsSuccessStatusCode) throw StatusError(response, repo, $"file '{file.Path}'", url);
                bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
                if (!resumed) have = 0;
                expected = expected.With(hop, response, have);
                var report = new HubFileProgress(repo, file.Path, have, Math.Max(1, expected.Size ?? have + (response.Content.Headers.ContentLength ?? 0)), Done: false);
                progress?.Report(report);
                received += await CopyBodyAsync(response, partial, append: resumed, expected.Size, report, cancel);
                break;
            }
            catch (Exception e) when (attempt < options.MaxAttempts && IsCutOff(e, cancel))
            {
                await Task.Delay(options.RetryDelay * attempt, cancel);
            }
            catch (Exception e) when (IsCutOff(e, cancel))
            {
                throw new NeuronExplainerException(
                    $"{url}: download of '{file.Path}' from {repo} broke off {options.MaxAttempts} times ({e.Message}); run again to resume from {partial}", e);
            }
        }
        await VerifyAsync(partial, expected, file.Path, repo, cancel);
        File.Move(partial, target, overwrite: true);
        long length = new FileInfo(target).Length;
        progress?.Report(new HubFileProgress(repo, file.Path, length, Math.Max(1, length), Done: true));
        return received;
    }

    private static bool IsCutOff(Exception e, CancellationToken cancel) =>
        e is IOException or HttpIOException || (e is OperationCanceledException && !cancel.IsCancellationRequested)
        || (e is HttpRequestException { StatusCode: null } && e.InnerException is IOException);

    /// <summary>Streams the body to the partial file; a read that stalls is cancelled (and later resumed).</summary>
    private async Task<long> CopyBodyAsync(HttpResponseMessage response, string partial, bool append, long? expectedSize,
        HubFileProgress report, CancellationToken cancel)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancel);
        await using var output = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long received = 0;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        while (true)
        {
            stall.CancelAfter(options.StallTimeout);
            int read = await body.ReadAsync(buffer, stall.Token);
            if (read == 0) break;
            try
            {
                await output.WriteAsync(buffer.AsMemory(0, read), cancel);
            }
            catch (IOException e)
            {
                // A full disk is no network cut-off: retrying would not help.
                throw new NeuronExplainerException($"cannot write {partial}: {e.Message}", e);
            }
            received += read;
            progress?.Report(report with { Bytes = report.Bytes + received });
            // Too long already: stop reading; the size check then rejects the file.
            if (expectedSize is { } size && output.Length > size) break;
        }
        return received;
    }

    /// <summary>What the downloaded file must be: from the listing, else the response headers.</summary>
    private sealed record Expected(long? Size, string? Sha256, string? GitSha1)
    {
        public Expected With(Hop hop, HttpResponseMessage response, long have)
        {
            long? size = Size ?? hop.LinkedSize ?? response.Content.Headers.ContentRange?.Length
                ?? (response.Content.Headers.ContentLength is { } length ? have + length : null);
            string? etag = HexOrNull(hop.LinkedEtag, 64);
            string? responseEtag = response.Headers.ETag?.Tag;
            return new Expected(size, Sha256 ?? etag ?? HexOrNull(responseEtag, 64), GitSha1 ?? (etag is null ? HexOrNull(responseEtag, 40) : null));
        }
    }

    private static async Task VerifyAsync(string partial, Expected expected, string file, HubRepo repo, CancellationToken cancel)
    {
        long length = new FileInfo(partial).Length;
        if (expected.Size is { } size && length != size)
        {
            File.Delete(partial);
            throw new NeuronExplainerException($"download of '{file}' from {repo} has {length} bytes, expected {size}; the partial file was removed, run again");
        }
        if (expected.Sha256 is null && expected.GitSha1 is null) return;

        await using var stream = File.OpenRead(partial);
        string actual, wanted;
        if (expected.Sha256 is not null)
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
            wanted = expected.Sha256;
        }
        else
        {
            // A plain git file's id: SHA-1 of "blob {size}\0" followed by the content.
            using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            sha1.AppendData(Encoding.ASCII.GetBytes($"blob {length}\0"));
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancel)) > 0) sha1.AppendData(buffer, 0, read);
            actual = Convert.ToHexStringLower(sha1.GetHashAndReset());
            wanted = expected.GitSha1!;
        }
        if (actual == wanted) return;
        stream.Close();
        File.Delete(partial);
        throw new NeuronExplainerException($"download of '{file}' from {repo} is corrupt: its hash is {actual}, the hub says {wanted}; the partial file was removed, run again");
    }

    private sealed class Hop(HttpResponseMessage response, long? linkedSize, string? linkedEtag) : IDisposable
    {
        public HttpResponseMessage Response { get; } = response;
        public long? LinkedSize { get; } = linkedSize;
        public string? LinkedEtag { get; } = linkedEtag;
        public void Dispose() => Response.Dispose();
    }

    /// <summary>GET with up to 10 redirects; the token goes only to the endpoint's own host.</summary>
    private async Task<Hop> SendAsync(string url, long? range, CancellationToken cancel)
    {
        var uri = new Uri(url);
        string endpointHost = new Uri(options.Endpoint).Authority;
        long? linkedSize = null;
        string? linkedEtag = null;
        for (int hop = 0; hop <= 10; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            if (range is { } from) request.Headers.Range = new RangeHeaderValue(from, null);
            if (options.Token is { } token && uri.Authority == endpointHost)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError || e.InnerException is SocketException)
            {
                throw new NeuronExplainerException(
                    $"cannot reach {uri.GetLeftPart(UriPartial.Authority)} ({e.Message}); offline? Use a local model path, or set HF_HUB_OFFLINE=1 to use only the cache in {options.CacheDirectory}", e);
            }
            if (response.Headers.TryGetValues("X-Linked-Size", out var sizes) && long.TryParse(sizes.First(), out long size)) linkedSize = size;
            if (response.Headers.TryGetValues("X-Linked-Etag", out var etags)) linkedEtag = etags.First();
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                response.Dispose();
                continue;
            }
            return new Hop(response, linkedSize, linkedEtag);
        }
        throw new NeuronExplainerException($"{url}: more than 10 redirects");
    }

    private NeuronExplainerException StatusError(HttpResponseMessage response, HubRepo repo, string what, string url)
    {
        string code = response.Headers.TryGetValues("X-Error-Code", out var codes) ? codes.First() : "";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => new(options.Token is null
                ? $"{url}: 401 Unauthorized: {repo.Id} does not exist, or is private or gated; set HF_TOKEN to a Hugging Face access token that can read it"
                : $"{url}: 401 Unauthorized: HF_TOKEN was refused for {repo.Id}; check the token, or whether the repository exists"),
            HttpStatusCode.Forbidden => new($"{url}: 403 Forbidden: no access to {repo.Id} (gated? request access on its hub page; HF_TOKEN must belong to an account that has it)"),
            HttpStatusCode.NotFound => new(code == "RepoNotFound"
                ? $"{url}: 404: repository {repo.Id} not found on {options.Endpoint}"
                : code == "RevisionNotFound"
                    ? $"{url}: 404: revision '{repo.Revision}' not found in {repo.Id}"
                    : $"{url}: 404: {what} not found in {repo}"),
            _ => new($"{url}: the hub answered {(int)response.StatusCode} {response.ReasonPhrase} for {what} of {repo}"),
        };
    }

    private void RequireOnline(HubRepo repo, string what)
    {
        if (options.Offline)
            throw new NeuronExplainerException(
                $"HF_HUB_OFFLINE is set and {what} of {repo} is not in the cache at {HubCache.SnapshotDirectory(options, repo)}");
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, string url, CancellationToken cancel)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancel);
            return await JsonDocument.ParseAsync(stream, cancellationToken: cancel);
        }
        catch (JsonException e)
        {
            throw new NeuronExplainerException($"{url}: the hub's answer is not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>A hash in hex of the given length, from a listing or an (optionally weak, quoted) ETag; else null.</summary>
    private static string? HexOrNull(string? value, int length)
    {
        if (value is null) return null;
        var trimmed = value.StartsWith("W/", StringComparison.Ordinal) ? value[2..] : value;
        trimmed = trimmed.Trim('"').ToLowerInvariant();
        return trimmed.Length == length && trimmed.All(char.IsAsciiHexDigit) ? trimmed : null;
    }
}
