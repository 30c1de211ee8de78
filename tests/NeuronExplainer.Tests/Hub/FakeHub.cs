using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace NeuronExplainer.Tests.Hub;

/// <summary>
/// A loopback server in the Hugging Face hub's URL layout: <c>/{repo}/resolve/{rev}/{file}</c>,
/// <c>/datasets/{repo}/resolve/...</c>, <c>/api/{models|datasets}/{repo}/tree/{rev}/{folder}</c> (paged), LFS
/// files redirected to a "CDN" on another host name (localhost) with X-Linked-Size / X-Linked-Etag, Range
/// requests, and injectable faults.
/// </summary>
internal sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly Dictionary<(string Kind, string Repo), Dictionary<string, HostedFile>> repos = [];

    public sealed class HostedFile(byte[] content, bool lfs)
    {
        public byte[] Content { get; } = content;
        public bool Lfs { get; } = lfs;
        public string Sha256 { get; set; } = Convert.ToHexStringLower(SHA256.HashData(content));
        public long? AdvertisedSize { get; set; }
        /// <summary>The git blob id listed and sent as ETag for a plain (non-LFS) file.</summary>
        public string GitOid { get; set; } = GitSha1(content);
        /// <summary>Responses that still get cut off after <see cref="CutOffAfterBytes"/> bytes.</summary>
        public int CutOffs { get; set; }
        public int CutOffAfterBytes { get; set; }
        public bool MissingOnResolve { get; set; }
    }

    public sealed record Request(string Host, string Path, string? Range, bool HasAuthorization);

    public ConcurrentQueue<Request> Requests { get; } = new();

    /// <summary>Repositories that answer 401 unless this token is sent.</summary>
    public string? RequiredToken { get; set; }

    public int PageSize { get; set; } = 1000;

    public string Endpoint { get; private set; } = "";

    private FakeHub(WebApplication app) => this.app = app;

    public static async Task<FakeHub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var hub = new FakeHub(app);
        app.Run(hub.HandleAsync);
        await app.StartAsync();
        hub.Endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return hub;
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();

    public HostedFile Add(string repo, string path, byte[] content, bool lfs = false, string kind = "models")
    {
        if (!repos.TryGetValue((kind, repo), out var files)) repos[(kind, repo)] = files = [];
        return files[path] = new HostedFile(content, lfs);
    }

    public HostedFile Add(string repo, string path, string content, bool lfs = false, string kind = "models") =>
        Add(repo, path, Encoding.UTF8.GetBytes(content), lfs, kind);

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        string path = Uri.UnescapeDataString(request.Path.Value ?? "");
        bool authorized = request.Headers.Authorization.ToString() is { Length: > 0 } auth;
        Requests.Enqueue(new Request(request.Host.Host, path, request.Headers.Range.ToString() is { Length: > 0 } r ? r : null, authorized));
        var response = context.Response;

        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            var (kindName, repoId, filePath) = Split3(path["/cdn/".Length..]);
            await ServeContentAsync(context, repos[(kindName, repoId)][filePath]);
            return;
        }

        string kind = "models";
        string rest = path.TrimStart('/');
        bool tree = rest.StartsWith("api/", StringComparison.Ordinal);
        if (tree)
        {
            rest = rest["api/".Length..];
            kind = rest.StartsWith("datasets/", StringComparison.Ordinal) ? "datasets" : "models";
            rest = rest[(kind.Length + 1)..];
        }
        else if (rest.StartsWith("datasets/", StringComparison.Ordinal))
        {
            kind = "datasets";
            rest = rest["datasets/".Length..];
        }

        var repo = repos.Keys.Where(k => k.Kind == kind && rest.StartsWith(k.Repo + "/", StringComparison.Ordinal)).OrderByDescending(k => k.Repo.Length).FirstOrDefault();
        if (repo == default)
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = "RepoNotFound";
            return;
        }
        if (RequiredToken is not null && request.Headers.Authorization.ToString() != $"Bearer {RequiredToken}")
        {
            response.StatusCode = 401;
            return;
        }
        var files = repos[repo];
        rest = rest[(repo.Repo.Length + 1)..];
        string marker = tree ? "tree/" : "resolve/";
        if (!rest.StartsWith(marker, StringComparison.Ordinal)) { response.StatusCode = 400; return; }
        rest = rest[marker.Length..];
        int slash = rest.IndexOf('/');
        string revision = slash < 0 ? rest : rest[..slash];
        string target = slash < 0 ? "" : rest[(slash + 1)..];
        if (revision != "main") { response.StatusCode = 404; response.Headers["X-Error-Code"] = "RevisionNotFound"; return; }

        if (tree)
        {
            await ListAsync(context, files, target, request.Query["recursive"] == "true", int.TryParse(request.Query["cursor"], out int c) ? c : 0);
            return;
        }
        if (!files.TryGetValue(target, out var file) || file.MissingOnResolve)
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = "EntryNotFound";
            return;
        }
        if (file.Lfs)
        {
            response.StatusCode = 302;
            response.Headers["X-Linked-Size"] = (file.AdvertisedSize ?? file.Content.Length).ToString();
            response.Headers["X-Linked-Etag"] = $"\"{file.Sha256}\"";
            response.Headers.Location = $"http://localhost:{request.Host.Port}/cdn/{kind}/{repo.Repo}/{target}";
            return;
        }
        response.Headers.ETag = $"\"{file.GitOid}\"";
        await ServeContentAsync(context, file);
    }

    private static (string, string, string) Split3(string cdnPath)
    {
        var parts = cdnPath.Split('/');
        // kind / org / name / file...: repos here always have an org.
        return (parts[0], $"{parts[1]}/{parts[2]}", string.Join('/', parts[3..]));
    }

    private async Task ListAsync(HttpContext context, Dictionary<string, HostedFile> files, string folder, bool recursive, int cursor)
    {
        string prefix = folder.Length > 0 ? folder + "/" : "";
        var entries = files.Keys.Where(p => p.StartsWith(prefix, StringComparison.Ordinal) && (recursive || !p[prefix.Length..].Contains('/')))
            .Order(StringComparer.Ordinal).ToList();
        if (folder.Length > 0 && entries.Count == 0) { context.Response.StatusCode = 404; context.Response.Headers["X-Error-Code"] = "EntryNotFound"; return; }
        var page = entries.Skip(cursor).Take(PageSize).Select(p =>
        {
            var f = files[p];
            long size = f.AdvertisedSize ?? f.Content.Length;
            return f.Lfs
                ? (object)new { type = "file", oid = GitSha1(Encoding.ASCII.GetBytes("pointer " + p)), size, path = p, lfs = new { oid = f.Sha256, size, pointerSize = 130 } }
                : new { type = "file", oid = f.GitOid, size, path = p };
        }).Append(new { type = "directory", oid = "0", size = 0L, path = prefix + "some-folder" }).ToList();
        if (cursor + PageSize < entries.Count)
            context.Response.Headers["Link"] = $"<{Endpoint}{context.Request.Path}?{(recursive ? "recursive=true&" : "")}cursor={cursor + PageSize}>; rel=\"next\"";
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(page));
    }

    private static async Task ServeContentAsync(HttpContext context, HostedFile file)
    {
        var content = file.Content;
        long from = 0;
        string range = context.Request.Headers.Range.ToString();
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1]);
            if (from >= content.Length)
            {
                context.Response.StatusCode = 416;
                return;
            }
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {from}-{content.Length - 1}/{content.Length}";
        }
        context.Response.ContentLength = content.Length - from;
        if (file.CutOffs > 0)
        {
            file.CutOffs--;
            int count = (int)Math.Min(file.CutOffAfterBytes, content.Length - from);
            await context.Response.Body.WriteAsync(content.AsMemory((int)from, count));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }
        await context.Response.Body.WriteAsync(content.AsMemory((int)from));
    }

    public static string GitSha1(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));
}
