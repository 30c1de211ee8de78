using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

/// <summary>What the fake server does with one request instead of answering normally.</summary>
public enum FakeFault
{
    /// <summary>Answer with <see cref="FakeReply.Status"/> (and Retry-After if given).</summary>
    Status,
    /// <summary>Never answer; the connection stays open until the client gives up (or the server's lifetime ends).</summary>
    Hang,
    /// <summary>A complete HTTP 200 whose JSON body is cut off halfway.</summary>
    TruncatedJson,
    /// <summary>A normal answer without any logprobs.</summary>
    NoLogprobs,
    /// <summary>A normal answer with this reply's <see cref="FakeReply.Content"/> instead of the programmed one.</summary>
    Content,
    /// <summary>A chat refusal as the API gives it: <c>content</c> null and the text in <c>message.refusal</c>.</summary>
    Refusal,
}

/// <summary>A scripted reply for the next request to an endpoint.</summary>
public sealed record FakeReply(FakeFault Fault, int Status = 200, string? RetryAfter = null, string? Content = null)
{
    public static FakeReply Error(int status, string? retryAfter = null) => new(FakeFault.Status, status, retryAfter);
    public static readonly FakeReply Hang = new(FakeFault.Hang);
    public static readonly FakeReply TruncatedJson = new(FakeFault.TruncatedJson);
    public static readonly FakeReply NoLogprobs = new(FakeFault.NoLogprobs);
    public static FakeReply WithContent(string content) => new(FakeFault.Content, Content: content);
    public static FakeReply Refusing(string refusal) => new(FakeFault.Refusal, Content: refusal);
}

/// <summary>A request the fake server received: endpoint ("chat/completions", "completions", "models"), body, time.</summary>
public sealed record FakeRequest(string Endpoint, JsonElement Body, DateTimeOffset At, string? Authorization)
{
    public string Model => Body.GetProperty("model").GetString()!;
    public int MaxTokens => Body.GetProperty("max_tokens").GetInt32();
    public int N => Body.TryGetProperty("n", out var n) ? n.GetInt32() : 1;
    public string Prompt => Body.GetProperty("prompt").GetString()!;
    public bool Echo => Body.TryGetProperty("echo", out var e) && e.GetBoolean();

    /// <summary>Chat: the number of top alternatives asked for, or null without logprobs. Completions: "logprobs".</summary>
    public int? TopLogprobs =>
        Body.TryGetProperty("top_logprobs", out var t) ? t.GetInt32()
        : Body.TryGetProperty("logprobs", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetInt32()
        : null;

    /// <summary>Chat: the messages' contents, in order.</summary>
    public IReadOnlyList<string> Messages =>
        Body.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("content").GetString()!).ToList();
}

/// <summary>A token of a fake answer with its logprob and the top alternatives at its position.</summary>
public sealed record FakeToken(string Text, double Logprob, IReadOnlyList<KeyValuePair<string, double>> Top)
{
    /// <summary>Splits text into word/number/punctuation/whitespace pieces, each likely (-0.05) with one unlikely alternative.</summary>
    public static IReadOnlyList<FakeToken> Split(string text) =>
        Regex.Matches(text, @" ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]|\s").Select(m =>
            new FakeToken(m.Value, -0.05, [new(m.Value, -0.05), new(m.Value == "zzz" ? "yyy" : "zzz", -3.0)])).ToList();
}

/// <summary>
/// An OpenAI-compatible server on 127.0.0.1 (random port) for tests: <c>/v1/chat/completions</c> with
/// logprobs in the chat API's shape, <c>/v1/completions</c> with echo and logprobs in the legacy shape,
/// and <c>/v1/models</c>. Answers are programmable by delegates; faults are scripted per endpoint and
/// used up in order; every request is counted and kept. It stops by itself after its lifetime.
/// </summary>
public sealed class FakeOpenAiServer : IAsyncDisposable
{
    public const string Chat = "chat/completions";
    public const string Completions = "completions";
    public const string ModelList = "models";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<FakeReply>> _script = new();
    private readonly ConcurrentQueue<FakeRequest> _requests = new();
    private readonly CancellationTokenSource _lifetime;
    private int _inFlight;
    private int _maxInFlight;

    private FakeOpenAiServer(WebApplication app, TimeSpan lifetime)
    {
        _app = app;
        _lifetime = new CancellationTokenSource(lifetime);
        _lifetime.Token.Register(() => _ = _app.StopAsync());
    }

    /// <summary>Starts a server that stops by itself after <paramref name="lifetime"/> (default 2 minutes).</summary>
    public static async Task<FakeOpenAiServer> StartAsync(TimeSpan? lifetime = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeOpenAiServer(app, lifetime ?? TimeSpan.FromMinutes(2));
        app.MapPost("/v1/chat/completions", context => server.HandleAsync(context, Chat));
        app.MapPost("/v1/completions", context => server.HandleAsync(context, Completions));
        app.MapGet("/v1/models", context => server.HandleAsync(context, ModelList));
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = new Uri(address.TrimEnd('/') + "/v1");
        return server;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Retries and timeouts in milliseconds, so tests of faults stay short.</summary>
    public static readonly LlmPipelineOptions FastRetries = new()
    {
        BaseRetryDelay = TimeSpan.FromMilliseconds(1),
        MaxRetryDelay = TimeSpan.FromMilliseconds(20),
        AttemptTimeout = TimeSpan.FromSeconds(5),
        Concurrency = 2,
    };

    /// <summary>The real pipeline to this server (OpenAI-compatible backend, default prices) with its cache and ledger in <paramref name="store"/>.</summary>
    public LlmPipeline Pipeline(ILlmStore store, LlmPipelineOptions? options = null)
    {
        var endpoint = new LlmEndpoint(BaseUrl);
        return new LlmPipeline(new OpenAiCompatibleBackend(endpoint, apiKey: null), endpoint, options ?? FastRetries, PriceTable.Default, store, ownsBackend: true);
    }

    /// <summary>Model ids listed by /v1/models.</summary>
    public List<string> Models { get; } = ["fake-chat", "fake-instruct"];

    /// <summary>When set, requests without <c>Authorization: Bearer {key}</c> get 401 with a body echoing the key they sent.</summary>
    public string? RequiredApiKey { get; set; }

    /// <summary>How long each answer takes (to observe concurrency).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.Zero;

    /// <summary>Chat: the content of choice i of a request.</summary>
    public Func<FakeRequest, int, string> ChatContent { get; set; } = (_, _) => "the main thing this neuron does is find dogs";

    /// <summary>Chat: how content is tokenized, with each token's logprob and alternatives.</summary>
    public Func<FakeRequest, string, IReadOnlyList<FakeToken>> ChatTokens { get; set; } = (_, content) => FakeToken.Split(content);

    /// <summary>Completions: the prompt's tokens with logprobs and alternatives (the first gets no logprob, as in the real API).</summary>
    public Func<FakeRequest, IReadOnlyList<FakeToken>> PromptTokens { get; set; } = request => FakeToken.Split(request.Prompt);

    /// <summary>
    /// Completions: a fake all-at-once simulator model. Every "unknown" value slot of the excerpt asked about (after the
    /// prompt's last "Neuron " header) gets the top alternatives <paramref name="top"/> gives for that line's token
    /// text; every other token is as <see cref="FakeToken.Split"/> makes it.
    /// </summary>
    public void PredictValueSlots(Func<string, IReadOnlyList<KeyValuePair<string, double>>> top) => PromptTokens = request =>
    {
        var tokens = FakeToken.Split(request.Prompt).ToList();
        int target = request.Prompt.LastIndexOf("Neuron ", StringComparison.Ordinal), position = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            if (position > target && tokens[i].Text == "unknown" && tokens[i - 1].Text == "\t")
                tokens[i] = tokens[i] with { Top = top(request.Prompt[(request.Prompt.LastIndexOf('\n', position) + 1)..(position - 1)]) };
            position += tokens[i].Text.Length;
        }
        return tokens;
    };

    /// <summary>
    /// Chat: a fake detection/fuzzing judge. A prompt holding numbered excerpts ("Excerpt 1: ...") is answered with one
    /// line per excerpt, yes where <paramref name="yes"/> says so for the excerpt's text, each answer one token whose
    /// top logprobs hold both yes (<paramref name="sureness"/> for the answer given) and no; other prompts as before.
    /// </summary>
    public void JudgeExcerpts(Func<string, bool> yes, double sureness = 0.9)
    {
        var before = ChatContent;
        ChatContent = (request, choice) =>
        {
            var excerpts = request.Messages[^1].Split('\n').Where(l => Regex.IsMatch(l, @"^Excerpt \d+: ")).ToList();
            return excerpts.Count == 0 ? before(request, choice) : string.Join('\n', excerpts.Select(l => yes(l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]) ? "yes" : "no"));
        };
        ChatTokens = (_, content) => content.Split('\n').All(l => l is "yes" or "no")
            ? content.Split('\n').SelectMany((answer, i) => new[]
            {
                new FakeToken(answer, Math.Log(sureness), [new(answer, Math.Log(sureness)), new(answer == "yes" ? "no" : "yes", Math.Log(1 - sureness))]),
                new FakeToken("\n", 0, [new("\n", 0)]),
            }).SkipLast(1).ToList()
            : FakeToken.Split(content);
    }

    /// <summary>Completions: the text generated for choice i (ignored when max_tokens is 0).</summary>
    public Func<FakeRequest, int, string> CompletionText { get; set; } = (_, _) => " ok";

    /// <summary>The next requests to <paramref name="endpoint"/> get these replies, in order.</summary>
    public void Enqueue(string endpoint, params FakeReply[] replies)
    {
        var queue = _script.GetOrAdd(endpoint, _ => new ConcurrentQueue<FakeReply>());
        foreach (var reply in replies) queue.Enqueue(reply);
    }

    public IReadOnlyList<FakeRequest> Requests => _requests.ToList();

    public int Count(string endpoint) => _requests.Count(r => r.Endpoint == endpoint);

    /// <summary>The most requests that were being answered at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    private async Task HandleAsync(HttpContext context, string endpoint)
    {
        using var body = endpoint == ModelList
            ? JsonDocument.Parse("{}")
            : await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var request = new FakeRequest(endpoint, body.RootElement.Clone(), DateTimeOffset.UtcNow, context.Request.Headers.Authorization.ToString());
        _requests.Enqueue(request);
        int inFlight = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _maxInFlight, inFlight);
        try
        {
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay, context.RequestAborted);
            if (RequiredApiKey is { } key && request.Authorization != $"Bearer {key}")
            {
                await Reply(context, 401, $$$"""{"error":{"message":"Incorrect API key provided: {{{request.Authorization?.Replace("Bearer ", "")}}}","code":"invalid_api_key"}}""");
                return;
            }
            var reply = _script.TryGetValue(endpoint, out var queue) && queue.TryDequeue(out var next) ? next : null;
            switch (reply?.Fault)
            {
                case FakeFault.Status:
                    if (reply.RetryAfter is { } wait) context.Response.Headers.RetryAfter = wait;
                    await Reply(context, reply.Status, $$$"""{"error":{"message":"scripted failure {{{reply.Status}}}"}}""");
                    return;
                case FakeFault.Hang:
                    await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _lifetime.Token).Token)
                        .ContinueWith(_ => { });
                    return;
            }
            string json = endpoint switch
            {
                Chat => ChatJson(request, reply),
                Completions => CompletionJson(request, reply),
                _ => JsonSerializer.Serialize(new { @object = "list", data = Models.Select(m => new { id = m, @object = "model" }) }),
            };
            if (reply?.Fault == FakeFault.TruncatedJson) json = json[..(json.Length / 2)];
            await Reply(context, 200, json);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private string ChatJson(FakeRequest request, FakeReply? reply)
    {
        bool logprobs = request.TopLogprobs is not null && reply?.Fault != FakeFault.NoLogprobs;
        int completionTokens = 0;
        var choices = Enumerable.Range(0, request.N).Select(i =>
        {
            bool refusal = reply?.Fault == FakeFault.Refusal;
            string content = refusal ? "" : reply?.Fault == FakeFault.Content ? reply.Content! : ChatContent(request, i);
            var tokens = refusal ? FakeToken.Split(reply!.Content!) : ChatTokens(request, content);
            completionTokens += tokens.Count;
            return new Dictionary<string, object?>
            {
                ["index"] = i,
                ["message"] = refusal ? new { role = "assistant", content = (string?)null, refusal = reply!.Content } : new { role = "assistant", content = (string?)content, refusal = (string?)null },
                ["logprobs"] = logprobs && !refusal
                    ? new
                    {
                        content = tokens.Select(t => new
                        {
                            token = t.Text, logprob = t.Logprob, bytes = Encoding.UTF8.GetBytes(t.Text).Select(b => (int)b),
                            top_logprobs = t.Top.Take(request.TopLogprobs!.Value).Select(a => new { token = a.Key, logprob = a.Value }),
                        }),
                    }
                    : null,
                ["finish_reason"] = "stop",
            };
        }).ToList();
        int promptTokens = request.Messages.Sum(m => FakeToken.Split(m).Count);
        return JsonSerializer.Serialize(new
        {
            id = "chatcmpl-fake", @object = "chat.completion", created = 0, model = request.Model, choices,
            usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens },
        });
    }

    private string CompletionJson(FakeRequest request, FakeReply? reply)
    {
        var promptTokens = PromptTokens(request);
        bool logprobs = request.TopLogprobs is not null && reply?.Fault != FakeFault.NoLogprobs;
        int completionTokens = 0;
        var choices = Enumerable.Range(0, request.N).Select(i =>
        {
            string generated = request.MaxTokens == 0 ? "" : reply?.Fault == FakeFault.Content ? reply.Content! : CompletionText(request, i);
            var generatedTokens = FakeToken.Split(generated);
            completionTokens += generatedTokens.Count;
            // The legacy shape: parallel arrays, and no logprob or alternatives for the first echoed token.
            var tokens = (request.Echo ? promptTokens : []).Concat(generatedTokens).ToList();
            var offsets = new List<int>();
            int offset = 0;
            foreach (var t in tokens) { offsets.Add(offset); offset += t.Text.Length; }
            return new Dictionary<string, object?>
            {
                ["text"] = (request.Echo ? request.Prompt : "") + generated,
                ["index"] = i,
                ["logprobs"] = logprobs
                    ? new
                    {
                        tokens = tokens.Select(t => t.Text),
                        token_logprobs = tokens.Select((t, k) => request.Echo && k == 0 ? (double?)null : t.Logprob),
                        top_logprobs = tokens.Select((t, k) => request.Echo && k == 0
                            ? null
                            : t.Top.Take(request.TopLogprobs!.Value).GroupBy(a => a.Key).ToDictionary(g => g.Key, g => g.First().Value)),
                        text_offset = offsets,
                    }
                    : null,
                ["finish_reason"] = "length",
            };
        }).ToList();
        return JsonSerializer.Serialize(new
        {
            id = "cmpl-fake", @object = "text_completion", created = 0, model = request.Model, choices,
            usage = new { prompt_tokens = promptTokens.Count, completion_tokens = completionTokens, total_tokens = promptTokens.Count + completionTokens },
        });
    }

    private static async Task Reply(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync();
        await _app.DisposeAsync();
        _lifetime.Dispose();
    }
}
