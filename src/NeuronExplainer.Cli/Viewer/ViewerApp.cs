using System.Globalization;
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
/// routes by path and reads the JSON API; every route is GET only. On loopback it answers only requests
/// addressed to a loopback name, so a web page whose host name was rebound to 127.0.0.1 cannot read the store.
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
        // A failed start (port in use) reaches the caller as an exception, reported as one error line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
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
            if (IPAddress.IsLoopback(options.Host) && !IsLoopbackName(context.Request.Host.Host))
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsJsonAsync(new ErrorView(
                    $"host '{context.Request.Host}' is not this viewer's address; it serves only loopback names such as 127.0.0.1 and localhost"));
                return;
            }
            await next(context);
        });
        // Whatever else ends an API request with an empty 4xx/5xx (no route, a wrong method) still gets the JSON error.
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            if (!context.Request.Path.StartsWithSegments("/api")) return;
            await context.Response.WriteAsJsonAsync(new ErrorView(context.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"no such API route: {context.Request.Path}; layers and neurons are whole numbers",
                StatusCodes.Status405MethodNotAllowed => $"the API answers GET only, not {context.Request.Method}",
                int code => $"the request failed with HTTP {code}",
            }));
        });

        var queries = new ViewerQueries(store);

        IResult Page() => Asset("index.html");
        app.MapGet("/", Page);
        app.MapGet("/neuron/{layer:int}/{neuron:int}", (int layer, int neuron) => Page());
        app.MapGet("/unit/{**unit}", (string unit) => Page());
        app.MapGet("/layer/{layer:int}", (int layer) => Page());
        app.MapGet("/search", Page);
        app.MapGet("/assets/{name}", (string name) => Asset(name));

        var api = app.MapGroup("/api");
        api.MapGet("/summary", Results<Ok<SummaryView>, BadRequest<ErrorView>> (HttpRequest request) =>
        {
            try
            {
                return TypedResults.Ok(queries.Summary(Single(request.Query, "explainer"), Single(request.Query, "simulator")));
            }
            catch (NeuronExplainerException e)
            {
                return TypedResults.BadRequest(new ErrorView(e.Message));
            }
        });
        api.MapGet("/layers/{layer:int}", Results<Ok<LayerView>, NotFound<ErrorView>, BadRequest<ErrorView>> (int layer, HttpRequest request) =>
        {
            try
            {
                return queries.Layer(layer, Single(request.Query, "explainer"), Single(request.Query, "simulator")) is { } view
                    ? TypedResults.Ok(view) : TypedResults.NotFound(new ErrorView($"the store has no layer {layer}"));
            }
            catch (NeuronExplainerException e)
            {
                return TypedResults.BadRequest(new ErrorView(e.Message));
            }
        });
        api.MapGet("/neurons/{layer:int}/{neuron:int}", Results<Ok<NeuronView>, NotFound<ErrorView>> (int layer, int neuron) =>
        {
            return queries.Neuron(new NeuronId(layer, neuron)) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound(new ErrorView($"the store has nothing on neuron {layer}/{neuron}"));
        });
        // A unit in its printed form (3/127, head:2/5, sae:res-jb-8/1234), its '/' and ':' URL-encoded or not.
        api.MapGet("/units/{**unit}", Results<Ok<NeuronView>, NotFound<ErrorView>, BadRequest<ErrorView>> (string unit) =>
        {
            string text = Uri.UnescapeDataString(unit);
            if (NeuronId.TryParse(text) is not { } id)
                return TypedResults.BadRequest(new ErrorView($"'{text}' is not a unit; expected LAYER/NEURON such as 3/127, head:LAYER/HEAD or sae:SAE_ID/LATENT"));
            return queries.Neuron(id) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound(new ErrorView($"the store has nothing on unit {id}"));
        });
        // Parameters are read by hand so a repeated or malformed one gets a message rather than an empty 400.
        api.MapGet("/search", Results<Ok<SearchView>, BadRequest<ErrorView>> (HttpRequest request) =>
        {
            try
            {
                string? q = Single(request.Query, "q");
                if (string.IsNullOrWhiteSpace(q)) return TypedResults.BadRequest(new ErrorView("query parameter 'q' is missing or empty"));
                string? limitText = Single(request.Query, "limit");
                int n = DefaultSearchLimit;
                if (limitText is not null && !int.TryParse(limitText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n))
                    return TypedResults.BadRequest(new ErrorView($"limit '{limitText}' is not a whole number; expected 1 to {MaxSearchLimit}"));
                if (n < 1 || n > MaxSearchLimit) return TypedResults.BadRequest(new ErrorView($"limit is {n}; expected 1 to {MaxSearchLimit}"));
                return TypedResults.Ok(queries.Search(q, n, Single(request.Query, "kind")));
            }
            catch (NeuronExplainerException e)
            {
                return TypedResults.BadRequest(new ErrorView(e.Message));
            }
        });
        api.MapFallback(() => TypedResults.NotFound(new ErrorView("no such API route")));
        return app;
    }

    static string? Single(IQueryCollection query, string name) =>
        query[name] is { Count: > 1 } values
            ? throw new NeuronExplainerException($"query parameter '{name}' is given {values.Count} times; give it once")
            : query[name].FirstOrDefault();

    static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    static IResult Asset(string name) =>
        ViewerAssets.TryGet(name, out var content, out var type) ? TypedResults.Bytes(content, type) : TypedResults.NotFound();
}
