using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// A stand-in OpenAI-compatible server on 127.0.0.1 for <c>bench llm</c>: it answers every request after a fixed delay,
/// in the real API's shapes, so the pipeline's own cost can be measured without a model. Chat requests whose last
/// message asks for values get one value per <c>unknown</c> line with top logprobs; other chat requests get an
/// explanation; completions with echo get the prompt's tokens with top logprobs (a value at every <c>unknown</c> slot).
/// </summary>
internal sealed class LoopbackLlmServer : IAsyncDisposable
{
    const string Unknown = "\tunknown";

    readonly WebApplication app;
    readonly TimeSpan delay;
    long requests;

    LoopbackLlmServer(WebApplication app, TimeSpan delay)
    {
        this.app = app;
        this.delay = delay;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Chat and completion requests answered so far.</summary>
    public long Requests => Interlocked.Read(ref requests);

    public static async Task<LoopbackLlmServer> StartAsync(TimeSpan delay, params string[] models)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // The bench opens as many connections as it has calls in flight; Kestrel's defaults would queue them.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new LoopbackLlmServer(app, delay);
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = models.Select(m => new { id = m, @object = "model" }) }));
        app.MapPost("/v1/chat/completions", context => server.AnswerAsync(context, chat: true));
        app.MapPost("/v1/completions", context => server.AnswerAsync(context, chat: false));
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = new Uri(address.TrimEnd('/') + "/v1");
        return server;
    }

    /// <summary>
    /// Chat answers by model, content and top logprobs: they depend on nothing else, and rendering one with top logprobs
    /// cost about as much CPU as the client's whole call, which the bench is there to measure, not the server.
    /// </summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, string Content, int Top), byte[]> chatAnswers = new();

    async Task AnswerAsync(HttpContext context, bool chat)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        await Task.Delay(delay, context.RequestAborted);
        Interlocked.Increment(ref requests);
        var request = body.RootElement;
        string model = request.GetProperty("model").GetString()!;
        context.Response.ContentType = "application/json";
        if (chat)
        {
            var messages = request.GetProperty("messages");
            string last = messages[messages.GetArrayLength() - 1].GetProperty("content").GetString()!;
            int slots = Occurrences(last, Unknown + "\n");
            string content = slots > 0 ? string.Join('\n', Enumerable.Range(0, slots).Select(i => i % 5 == 0 ? "3" : "0")) : "words about cats and dogs";
            int top = request.TryGetProperty("top_logprobs", out var t) ? t.GetInt32() : 0;
            byte[] answer = chatAnswers.GetOrAdd((model, content, top), key =>
            {
                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                using (var writer = new Utf8JsonWriter(buffer))
                    WriteAnswer(writer, "chatcmpl-bench", "chat.completion", key.Model, () => WriteChatChoice(writer, key.Content, key.Top));
                return buffer.WrittenSpan.ToArray();
            });
            await context.Response.Body.WriteAsync(answer, context.RequestAborted);
            return;
        }
        using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        string prompt = request.GetProperty("prompt").GetString()!;
        int logprobs = request.TryGetProperty("logprobs", out var l) ? l.GetInt32() : 0;
        WriteAnswer(json, "cmpl-bench", "text_completion", model, () => WriteEchoChoice(json, prompt, logprobs));
        await json.FlushAsync(context.RequestAborted);
    }

    /// <summary>The envelope of an answer with one choice, which <paramref name="choice"/> writes and whose token counts it returns.</summary>
    static void WriteAnswer(Utf8JsonWriter json, string id, string kind, string model, Func<(int Prompt, int Completion)> choice)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", kind);
        json.WriteString("model", model);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        var (prompt, completion) = choice();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", prompt);
        json.WriteNumber("completion_tokens", completion);
        json.WriteNumber("total_tokens", prompt + completion);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A chat choice: the content one token per line piece, each with its top alternatives when asked for.</summary>
    static (int, int) WriteChatChoice(Utf8JsonWriter json, string content, int topLogprobs)
    {
        var tokens = Pieces(content);
        json.WriteNumber("index", 0);
        json.WriteStartObject("message");
        json.WriteString("role", "assistant");
        json.WriteString("content", content);
        json.WriteEndObject();
        if (topLogprobs > 0)
        {
            json.WriteStartObject("logprobs");
            json.WriteStartArray("content");
            foreach (var token in tokens)
            {
                json.WriteStartObject();
                json.WriteString("token", token);
                json.WriteNumber("logprob", -0.1);
                json.WriteStartArray("top_logprobs");
                foreach (var (alternative, logprob) in Alternatives(token, topLogprobs))
                {
                    json.WriteStartObject();
                    json.WriteString("token", alternative);
                    json.WriteNumber("logprob", logprob);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteString("finish_reason", "stop");
        return (200, tokens.Count);
    }

    /// <summary>A legacy completion choice with echo and nothing generated: the prompt's pieces, parallel arrays, no logprob for the first.</summary>
    static (int, int) WriteEchoChoice(Utf8JsonWriter json, string prompt, int topLogprobs)
    {
        var tokens = Pieces(prompt);
        json.WriteString("text", prompt);
        json.WriteNumber("index", 0);
        json.WriteStartObject("logprobs");
        json.WriteStartArray("tokens");
        foreach (var token in tokens) json.WriteStringValue(token);
        json.WriteEndArray();
        json.WriteStartArray("token_logprobs");
        for (int i = 0; i < tokens.Count; i++)
            if (i == 0) json.WriteNullValue(); else json.WriteNumberValue(-0.1);
        json.WriteEndArray();
        json.WriteStartArray("top_logprobs");
        for (int i = 0; i < tokens.Count; i++)
        {
            if (i == 0) { json.WriteNullValue(); continue; }
            json.WriteStartObject();
            // At a value slot the model's alternatives are values; elsewhere the token itself.
            foreach (var (alternative, logprob) in Alternatives(tokens[i] == "unknown" ? "0" : tokens[i], Math.Max(1, topLogprobs)))
                json.WriteNumber(alternative, logprob);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("text_offset");
        int offset = 0;
        foreach (var token in tokens)
        {
            json.WriteNumberValue(offset);
            offset += token.Length;
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteString("finish_reason", "length");
        return (tokens.Count, 0);
    }

    /// <summary>The token itself, likely, then other values 0..10 (distinct), as many as asked for.</summary>
    static IEnumerable<(string Token, double Logprob)> Alternatives(string token, int count) =>
        new[] { (token, -0.1) }.Concat(Enumerable.Range(0, 11).Select(v => (v.ToString(System.Globalization.CultureInfo.InvariantCulture), -3.0 - v))
            .Where(a => a.Item1 != token)).Take(count);

    /// <summary>Text cut at line breaks and tabs (each its own piece) and otherwise every 4 characters, covering it exactly.</summary>
    static List<string> Pieces(string text)
    {
        var pieces = new List<string>();
        var current = new StringBuilder();
        foreach (char c in text)
        {
            if (c is '\n' or '\t')
            {
                if (current.Length > 0) pieces.Add(current.ToString());
                pieces.Add(c.ToString());
                current.Clear();
                continue;
            }
            current.Append(c);
            if (current.Length == 4 && current.ToString() != "unkn") { pieces.Add(current.ToString()); current.Clear(); }
        }
        if (current.Length > 0) pieces.Add(current.ToString());
        return pieces;
    }

    static int Occurrences(string text, string what)
    {
        int count = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
