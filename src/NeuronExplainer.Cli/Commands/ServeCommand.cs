using System.CommandLine;
using System.Net;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer serve</c>: the local web viewer over one store.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory holding store.db", Required = true };
        var host = new Option<string>("--host")
        {
            Description = "IP address to listen on; 0.0.0.0 (or ::) shows the viewer to your whole network",
            DefaultValueFactory = _ => ViewerOptions.Default.Host.ToString(),
        };
        host.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>();
            if (ParseHost(text) is null) result.AddError($"--host '{text}' is not an IP address; expected e.g. 127.0.0.1, 0.0.0.0 or ::1");
        });
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one)", DefaultValueFactory = _ => ViewerOptions.Default.Port };
        port.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value is < 0 or > 65535) result.AddError($"--port {value} is out of range; expected 0 to 65535");
        });
        var command = new Command("serve", """
            Browse a store in a local web viewer: per-layer score charts, every neuron's explanations with
            scores, token heatmaps of its excerpts, simulated vs real activations, related tokens and neurons,
            and full-text search over explanations. Read-only; listens on 127.0.0.1 unless --host says otherwise.
            The JSON API under /api is described in the README.

            Examples:
              neuron-explainer serve --store runs/stories260K
              neuron-explainer serve --store runs/gpt2 --port 8080
            """)
        {
            store, host, port,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var opened = SqliteNeuronStore.OpenExisting(parse.GetRequiredValue(store));
            var options = new ViewerOptions(ParseHost(parse.GetRequiredValue(host))!, parse.GetValue(port));
            await using var app = ViewerApp.Build(opened, options);
            await app.StartAsync(cancel);
            var url = app.Urls.First(); // the bound address, so --port 0 prints the port it got
            output.WriteLine($"Serving {opened.Location} at {url}/ (read-only; Ctrl+C to stop)");
            if (!IPAddress.IsLoopback(options.Host))
                output.WriteLine($"Listening on {options.Host}: anyone who can reach this machine can read the store.");
            await app.WaitForShutdownAsync(cancel);
            return 0;
        });
        return command;
    }

    static IPAddress? ParseHost(string? text) =>
        text == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(text, out var address) ? address : null;
}
