using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Connections;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>neuron-explainer serve</c>: the local web viewer over one store.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory holding store.db, or a postgresql:// store URL", Required = true };
        var listen = new ListenOptions();
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
            store,
        };
        listen.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            using var opened = NeuronStores.OpenExisting(parse.GetRequiredValue(store), StoreAccess.ReadOnly);
            return await ServeAsync(opened, listen.Read(parse), parse.InvocationConfiguration.Output, cancel);
        });
        return command;
    }

    /// <summary>Serves <paramref name="store"/> until Ctrl+C (or <paramref name="cancel"/>).</summary>
    public static async Task<int> ServeAsync(INeuronStore store, ViewerOptions options, TextWriter output, CancellationToken cancel)
    {
        await using var app = ViewerApp.Build(store, options);
        try
        {
            await app.StartAsync(cancel);
        }
        catch (IOException e) when (e.InnerException is AddressInUseException)
        {
            throw new NeuronExplainerException(
                $"cannot serve on {options.Host}: port {options.Port} is in use by another program; choose another with --port (0 picks a free one)", e);
        }
        var url = app.Urls.First(); // the bound address, so --port 0 prints the port it got
        output.WriteLine($"Serving {store.Location} at {url}/ (read-only; Ctrl+C to stop)");
        if (!IPAddress.IsLoopback(options.Host))
            output.WriteLine($"Listening on {options.Host}: anyone who can reach this machine can read the store.");
        await app.WaitForShutdownAsync(cancel);
        return 0;
    }

    /// <summary>--host and --port of the viewer, shared by <c>serve</c> and <c>run --serve</c>.</summary>
    public sealed class ListenOptions
    {
        readonly Option<string> host = new("--host")
        {
            Description = "IP address the viewer listens on; 0.0.0.0 (or ::) shows it to your whole network",
            DefaultValueFactory = _ => ViewerOptions.Default.Host.ToString(),
        };

        readonly Option<int> port = new("--port") { Description = "TCP port of the viewer (0 picks a free one)", DefaultValueFactory = _ => ViewerOptions.Default.Port };

        public ListenOptions()
        {
            host.Validators.Add(result =>
            {
                var text = result.GetValueOrDefault<string>();
                if (ParseHost(text) is null) result.AddError($"--host '{text}' is not an IP address; expected e.g. 127.0.0.1, 0.0.0.0 or ::1");
            });
            port.Validators.Add(result =>
            {
                int value = result.GetValueOrDefault<int>();
                if (value is < 0 or > 65535) result.AddError($"--port {value} is out of range; expected 0 to 65535");
            });
        }

        public void AddTo(Command command)
        {
            command.Options.Add(host);
            command.Options.Add(port);
        }

        public ViewerOptions Read(ParseResult parse) => new(ParseHost(parse.GetRequiredValue(host))!, parse.GetValue(port));
    }

    static IPAddress? ParseHost(string? text) =>
        text == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(text, out var address) ? address : null;
}
