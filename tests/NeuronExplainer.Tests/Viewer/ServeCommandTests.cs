using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using NeuronExplainer.Cli;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Viewer;

public sealed partial class ServeCommandTests
{
    [Theory]
    [InlineData("--host", "example.org", "--host 'example.org' is not an IP address")]
    [InlineData("--port", "70000", "--port 70000 is out of range")]
    public void Bad_options_are_usage_errors(string option, string value, string message)
    {
        var (code, _, err) = Run("serve", "--store", "anywhere", option, value);
        Assert.Equal(CliApp.UsageError, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void A_directory_without_a_store_is_refused_and_not_created()
    {
        using var temp = new TempDirectory();
        var (code, _, err) = Run("serve", "--store", temp.Sub("missing"));
        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("store.db not found", err);
        Assert.False(Directory.Exists(temp.Sub("missing")));
    }

    [Fact]
    public async Task A_busy_port_is_one_error_line()
    {
        using var store = ViewerFixture.Store();
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        // In a process of its own: the host's logger writes to the real console, which an in-process run would not see.
        using var process = Process.Start(new ProcessStartInfo("dotnet",
            ["exec", Path.Combine(AppContext.BaseDirectory, "neuron-explainer.dll"), "serve", "--store", Path.GetDirectoryName(store.Store.Location)!, "--port", port.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(CliApp.Failure, process.ExitCode);
        Assert.Equal("", await output);
        var line = Assert.Single((await error).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains($"port {port} is in use", line);
        Assert.Contains("--port", line);
    }

    [Fact]
    public async Task Serve_prints_its_url_and_answers_there()
    {
        using var store = ViewerFixture.Store();
        var cli = Path.Combine(AppContext.BaseDirectory, "neuron-explainer.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", cli, "serve", "--store", Path.GetDirectoryName(store.Store.Location)!, "--port", "0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var url = Url().Match(line ?? "");
            Assert.True(url.Success, $"no URL in '{line}'; stderr: {(process.HasExited ? await process.StandardError.ReadToEndAsync() : "")}");
            using var http = new HttpClient();
            var summary = JsonDocument.Parse(await http.GetStringAsync(url.Value + "api/summary")).RootElement;
            Assert.Equal(6, summary.GetProperty("neurons").GetInt32());
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex Url();
}
