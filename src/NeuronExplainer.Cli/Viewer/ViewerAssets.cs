using System.Collections.Frozen;

namespace NeuronExplainer.Cli.Viewer;

/// <summary>
/// The viewer's HTML, CSS and JavaScript, embedded in the executable. Requests are answered from this fixed
/// table by exact name, so no part of a URL ever reaches the file system.
/// </summary>
public static class ViewerAssets
{
    const string Prefix = "NeuronExplainer.Cli.Viewer.Assets.";

    static readonly FrozenDictionary<string, (byte[] Content, string ContentType)> Assets = Load();

    public static bool TryGet(string name, out byte[] content, out string contentType)
    {
        if (Assets.TryGetValue(name, out var asset))
        {
            (content, contentType) = asset;
            return true;
        }
        (content, contentType) = ([], "");
        return false;
    }

    static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ViewerAssets).Assembly;
        var assets = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var name = resource[Prefix.Length..];
            assets[name] = (buffer.ToArray(), ContentType(name));
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => throw new InvalidOperationException($"embedded viewer asset '{name}' has no known content type"),
    };
}
