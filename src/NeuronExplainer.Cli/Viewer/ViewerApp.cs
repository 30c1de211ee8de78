using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Viewer;

/// <summary>Where the viewer listens. Loopback by default: the store may hold unpublished work.</summary>
public sealed record ViewerOptions(IPAddress Host, int Port)
{
    public static readonly ViewerOptions Default = new(IPAddress.Loopback, 5000);
}

/// <summary>
/// The neuron viewer: a read-only web app over one store. Pages are a single static page whose script
/// routes by path and reads the JSON API; every route is GET only.
/// </summary>
public static class ViewerApp
{
    public const int DefaultSearchLimit = 50;
    public const int MaxSearchLimit = 500;

    /// <summary>Builds the app; <paramref name="configure"/> lets tests swap the server (e.g. TestServer).</summary>
    public static WebApplication Build(INeuronStore store, ViewerOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(options.Host, options.Port));
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            j.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });
        configure?.Invoke(builder);

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // Data is only ever inserted as text, and nothing is loaded from elsewhere; say so to the browser too.
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            await next(context);
        });

        var queries = new ViewerQueries(store);

        IResult Page() => Asset("index.html");
        app.MapGet("/", Page);
        app.MapGet("/neuron/{layer:int}/{neuron:int}", (int layer, int neuron) => Page());
        app.MapGet("/layer/{layer:int}", (int layer) => Page());
        app.MapGet("/search", Page);
        app.MapGet("/assets/{name}", (string name) => Asset(name));

        var api = app.MapGroup("/api");
        api.MapGet("/summary", queries.Summary);
        api.MapGet("/layers/{layer:int}", Results<Ok<LayerView>, NotFound<ErrorView>> (int layer) =>
        {
            return queries.Layer(layer) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound(new ErrorView($"the store has no layer {layer}"));
        });
        api.MapGet("/neurons/{layer:int}/{neuron:int}", Results<Ok<NeuronView>, NotFound<ErrorView>> (int layer, int neuron) =>
        {
            return queries.Neuron(new NeuronId(layer, neuron)) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound(new ErrorView($"the store has nothing on neuron {layer}/{neuron}"));
        });
        api.MapGet("/search", Results<Ok<SearchView>, BadRequest<ErrorView>> (string? q, int? limit) =>
        {
            if (string.IsNullOrWhiteSpace(q)) return TypedResults.BadRequest(new ErrorView("query parameter 'q' is missing or empty"));
            int n = limit ?? DefaultSearchLimit;
            if (n < 1 || n > MaxSearchLimit) return TypedResults.BadRequest(new ErrorView($"limit is {n}; expected 1 to {MaxSearchLimit}"));
            try
            {
                return TypedResults.Ok(queries.Search(q, n));
            }
            catch (NeuronExplainerException e)
            {
                return TypedResults.BadRequest(new ErrorView(e.Message));
            }
        });
        api.MapFallback(() => TypedResults.NotFound(new ErrorView("no such API route")));
        return app;
    }

    static IResult Asset(string name) =>
        ViewerAssets.TryGet(name, out var content, out var type) ? TypedResults.Bytes(content, type) : TypedResults.NotFound();
}
