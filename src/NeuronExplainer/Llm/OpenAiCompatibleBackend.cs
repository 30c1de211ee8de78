using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Net.Http.Headers;
using OpenAI;
using OpenAI.Chat;

namespace NeuronExplainer.Llm;

/// <summary>
/// One OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter): chat through the
/// official OpenAI package's <see cref="ChatClient"/>, legacy completions and the model list over the same
/// <see cref="HttpClient"/>. Each call is one attempt: errors become <see cref="LlmServerException"/> and
/// retrying is left to <see cref="LlmPipeline"/>.
/// </summary>
/// <remarks>
/// Chat uses the package's protocol method (JSON in, JSON out) because its typed options cannot ask for
/// <c>n</c> choices and its typed result keeps only the first choice; the paper samples several
/// explanations from one prompt.
/// </remarks>
public sealed class OpenAiCompatibleBackend : ILlmClient, IDisposable
{
    private readonly HttpClient _http;
    private readonly string _apiKey;
    private readonly OpenAIClientOptions _chatOptions;
    private readonly ConcurrentDictionary<string, ChatClient> _chatClients = new();
    private readonly TimeProvider _time;

    /// <param name="endpoint">The server.</param>
    /// <param name="apiKey">The key, or null for a local server that needs none.</param>
    /// <param name="handler">The HTTP handler (tests may pass one); null for the default.</param>
    /// <param name="time">Clock for Retry-After dates.</param>
    public OpenAiCompatibleBackend(LlmEndpoint endpoint, string? apiKey, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        Endpoint = endpoint;
        _time = time ?? TimeProvider.System;
        // Local servers ignore the key, but the package and the Authorization header want one.
        _apiKey = string.IsNullOrEmpty(apiKey) ? "no-key" : apiKey;
        // Timeouts belong to the pipeline (per attempt and per call), so the transport waits as long as asked.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        _chatOptions = new OpenAIClientOptions
        {
            Endpoint = endpoint.BaseUrl,
            Transport = new HttpClientPipelineTransport(_http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        };
    }

    public LlmEndpoint Endpoint { get; }

    /// <summary>
    /// Connects after checking, before any work starts, that the API key is set (a local server may need
    /// none) and, when <paramref name="checkServer"/>, that the server answers <c>GET /models</c> with that
    /// key and lists the models. Each problem is one <see cref="NeuronExplainerException"/> saying what to fix.
    /// </summary>
    public static async Task<OpenAiCompatibleBackend> ConnectAsync(LlmEndpoint endpoint, IReadOnlyCollection<string> models, bool checkServer,
        CancellationToken cancellationToken = default)
    {
        string? key = Environment.GetEnvironmentVariable(endpoint.ApiKeyEnv);
        if (checkServer && string.IsNullOrEmpty(key) && !endpoint.IsLocal)
            throw new NeuronExplainerException(
                $"no API key for the LLM server {endpoint.BaseUrl}: environment variable {endpoint.ApiKeyEnv} (LlmEndpoint.ApiKeyEnv) is not set; set it or name another one");
        var backend = new OpenAiCompatibleBackend(endpoint, key);
        try
        {
            if (checkServer) await backend.PreflightAsync(models, noKey: string.IsNullOrEmpty(key), cancellationToken).ConfigureAwait(false);
            return backend;
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }


    public async Task<ChatResponse> ChatAsync(ChatRequest request, LlmCallContext context, ReplyCheck<ChatResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        var client = _chatClients.GetOrAdd(request.Model, model => new ChatClient(model, new ApiKeyCredential(_apiKey), _chatOptions));
        using var content = BinaryContent.Create(BinaryData.FromBytes(OpenAiWire.ChatBody(request)));
        var options = new RequestOptions { CancellationToken = cancellationToken, ErrorOptions = ClientErrorBehaviors.NoThrow };
        ClientResult result;
        try { result = await client.CompleteChatAsync(content, options).ConfigureAwait(false); }
        catch (Exception e) when (IsNetworkError(e, cancellationToken)) { throw NetworkError(e); }
        var response = result.GetRawResponse();
        response.Headers.TryGetValue("Retry-After", out string? retryAfter);
        byte[] body = response.Content.ToArray();
        if (response.Status is < 200 or > 299)
            throw StatusError(response.Status, retryAfter, body);
        return OpenAiWire.ParseChat(body);
    }

    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, LlmCallContext context, ReplyCheck<CompletionResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, Url("completions"))
        {
            Content = new ByteArrayContent(OpenAiWire.CompletionBody(request)) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        return OpenAiWire.ParseCompletion(await SendAsync(message, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// <c>GET {base}/models</c>: the model ids the server offers, or null if it does not implement the list
    /// (404/405). Throws <see cref="LlmServerException"/> for a refused key or an unreachable server.
    /// </summary>
    private async Task<IReadOnlyList<string>?> ListModelsAsync(CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, Url("models"));
        try { return OpenAiWire.ParseModels(await SendAsync(message, cancellationToken).ConfigureAwait(false)); }
        catch (LlmServerException e) when (e.Status is 404 or 405) { return null; }
    }

    /// <summary>How long the model list may take: an unreachable server fails at once, but a busy one (the fleet tests'
    /// server at load 40) took more than the 15 s this once was.</summary>
    private static readonly TimeSpan PreflightTimeout = TimeSpan.FromSeconds(60);

    private async Task PreflightAsync(IReadOnlyCollection<string> models, bool noKey, CancellationToken cancellationToken)
    {
        var server = Endpoint.BaseUrl;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PreflightTimeout);
        IReadOnlyList<string>? served;
        try { served = await ListModelsAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NeuronExplainerException($"the LLM server {server} did not answer GET /models within {PreflightTimeout.TotalSeconds:0} s");
        }
        catch (LlmServerException e) when (e.Status is 401 or 403)
        {
            throw new NeuronExplainerException(noKey
                ? $"the LLM server {server} needs an API key (HTTP {e.Status}): set environment variable {Endpoint.ApiKeyEnv} (LlmEndpoint.ApiKeyEnv) or name another one"
                : $"the LLM server {server} refused the API key from environment variable {Endpoint.ApiKeyEnv} (HTTP {e.Status})", e);
        }
        catch (LlmServerException e)
        {
            throw new NeuronExplainerException(e.Status is null
                ? $"cannot reach the LLM server {server}: {e.Message}"
                : $"the LLM server {server} answered GET /models with {e.Message}", e);
        }
        if (served is null || served.Count == 0) return;
        // Ollama lists "llama3.1:latest" and answers to "llama3.1" as well.
        var missing = models.Where(m => !served.Contains(m, StringComparer.Ordinal) && !served.Contains(m + ":latest", StringComparer.Ordinal)).ToList();
        if (missing.Count > 0)
            throw new NeuronExplainerException(
                $"the LLM server {server} does not serve model '{missing[0]}'; it serves: {string.Join(", ", served.Take(20))}{(served.Count > 20 ? ", ..." : "")}");
    }

    private async Task<byte[]> SendAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        byte[] body;
        try
        {
            response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
            body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsNetworkError(e, cancellationToken)) { throw NetworkError(e); }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw StatusError((int)response.StatusCode, RetryAfterHeader(response), body);
            return body;
        }
    }

    // Servers may echo the key they were sent; keys of any shape are cut out here, sk-... ones also by SecretMask.
    private LlmServerException StatusError(int status, string? retryAfter, byte[] body)
    {
        string text = System.Text.Encoding.UTF8.GetString(body);
        if (_apiKey.Length >= 4) text = text.Replace(_apiKey, "***", StringComparison.Ordinal);
        return LlmServerException.FromStatus(status, retryAfter, text, _time.GetUtcNow());
    }

    private static string? RetryAfterHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Retry-After", out var values) ? values.FirstOrDefault() : null;

    private Uri Url(string path) => new(Endpoint.BaseUrl.AbsoluteUri.TrimEnd('/') + "/" + path);

    // A dropped connection or a body cut off mid-transfer; the caller's own cancellation is not one. The OpenAI
    // package wraps a transport failure of the chat path in a ClientResultException with no response.
    private static bool IsNetworkError(Exception e, CancellationToken cancellationToken) =>
        e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        || (e is System.ClientModel.ClientResultException { InnerException: { } inner } && IsNetworkError(inner, cancellationToken));

    private static LlmServerException NetworkError(Exception e) =>
        new($"network error: {SecretMask.Mask(e.Message)}", status: null, transient: true, inner: e);

    public void Dispose() => _http.Dispose();
}
