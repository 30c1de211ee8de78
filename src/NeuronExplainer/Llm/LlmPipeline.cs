using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace NeuronExplainer.Llm;

/// <summary>
/// Every LLM call of a run goes through here, in this order: the content-addressed cache in the store
/// (a request answered before, in this run or an earlier one, is never paid again), the dry run (count
/// and estimate instead of sending), the cost budget (reserve the call's worst-case cost before sending,
/// refuse if it could exceed <see cref="LlmPipelineOptions.MaxCost"/>), the concurrency limit, retries with jittered exponential
/// backoff (429 honouring Retry-After, 5xx, timeouts, broken bodies; bounded in attempts and time), and
/// finally the cache write and a ledger entry per call. Only replies the caller's <see cref="ReplyCheck{TResponse}"/>
/// accepts are cached or shared with a concurrent identical call; a cached reply it rejects (e.g. written by a
/// version that cached everything) is a miss, so a caller's retry always reaches the server.
/// </summary>
public sealed class LlmPipeline : ILlmClient, IDisposable
{
    private const string ChatKind = "chat";
    private const string CompletionKind = "completions";

    private readonly ILlmClient _backend;
    private readonly IDisposable? _ownedBackend;
    private readonly LlmEndpoint _endpoint;
    private readonly LlmPipelineOptions _options;
    private readonly PriceTable _prices;
    private readonly ILlmStore _store;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _slots;
    private readonly ResiliencePipeline _resilience;
    private readonly Lock _lock = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _inFlight = new();
    private decimal _reserved;
    /// <summary>This pipeline's name on the requests it marks as in flight in the store.</summary>
    private readonly string _owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private int _consecutiveFailures;
    private string? _unavailable;
    private LlmUsage _usage = new(0, 0, 0, 0, 0, 0m);

    /// <param name="backend">The server connection; see <see cref="ConnectAsync"/> for the usual one.</param>
    /// <param name="endpoint">The server, part of every cache key and the price lookup.</param>
    /// <param name="options">Budget, concurrency, retries, dry run.</param>
    /// <param name="prices">Model prices.</param>
    /// <param name="store">Holds the response cache and the ledger.</param>
    /// <param name="time">Clock (and timer for backoff waits).</param>
    /// <param name="ownsBackend">Dispose the backend with the pipeline.</param>
    public LlmPipeline(ILlmClient backend, LlmEndpoint endpoint, LlmPipelineOptions options, PriceTable prices, ILlmStore store,
        TimeProvider? time = null, bool ownsBackend = false)
    {
        if (options.Concurrency < 1) throw SettingException.Of<LlmPipelineOptions>(nameof(options.Concurrency), $"is {options.Concurrency}; expected at least 1");
        if (options.MaxAttempts < 1) throw SettingException.Of<LlmPipelineOptions>(nameof(options.MaxAttempts), $"is {options.MaxAttempts}; expected at least 1 attempt per LLM call");
        if (options.MaxConsecutiveFailures < 1)
            throw SettingException.Of<LlmPipelineOptions>(nameof(options.MaxConsecutiveFailures), $"is {options.MaxConsecutiveFailures}; expected at least 1 failed call in a row before a run stops");
        if (options.MaxCost is < 0) throw SettingException.Of<LlmPipelineOptions>(nameof(options.MaxCost), $"is {options.MaxCost}; expected a budget of 0 or more US dollars");
        _backend = backend;
        _ownedBackend = ownsBackend ? backend as IDisposable : null;
        _endpoint = endpoint;
        _options = options;
        _prices = prices;
        _store = store;
        _time = time ?? TimeProvider.System;
        _slots = new SemaphoreSlim(options.Concurrency);
        _resilience = BuildResilience(options, _time);
        RaiseThreadPoolFloor(options.Concurrency);
    }

    /// <summary>
    /// Every call in flight makes synchronous store calls (cache, claims, ledger) on a pool thread, blocking it while the store
    /// is busy. With the pool's default floor of one thread per core, 64 calls in flight queued behind a few blocked threads
    /// while the pool added threads about twice a second: bench llm reached 76% of c / delay at 64 calls and 74% at 128, and
    /// 89-94% with the floor at the concurrency. Only ever raised, never lowered below what the process set.
    /// </summary>
    private static void RaiseThreadPoolFloor(int concurrency)
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        int wanted = concurrency + Environment.ProcessorCount;
        if (workers < wanted) ThreadPool.SetMinThreads(wanted, io);
    }

    /// <summary>
    /// A pipeline over <see cref="OpenAiCompatibleBackend.ConnectAsync"/>: the models' prices, the API key
    /// and the server are checked before any work starts (a dry run checks prices only and sends nothing).
    /// </summary>
    public static async Task<LlmPipeline> ConnectAsync(LlmEndpoint endpoint, IReadOnlyCollection<string> models, LlmPipelineOptions options,
        PriceTable prices, ILlmStore store, CancellationToken cancellationToken = default)
    {
        foreach (string model in models) prices.PriceOf(model, endpoint);
        var backend = await OpenAiCompatibleBackend.ConnectAsync(endpoint, models, checkServer: !options.DryRun, cancellationToken).ConfigureAwait(false);
        return new LlmPipeline(backend, endpoint, options, prices, store, ownsBackend: true);
    }

    /// <summary>
    /// Raised (on the calling thread of the failed attempt) with one line when an attempt failed and the call
    /// will be tried again, so a long run can show that it is waiting on a rate limit or a flaky server.
    /// </summary>
    public event Action<string>? Retrying;

    /// <summary>What this pipeline's calls used so far (estimates in a dry run).</summary>
    public LlmUsage Usage { get { lock (_lock) return _usage; } }

    public Task<ChatResponse> ChatAsync(ChatRequest request, LlmCallContext context, ReplyCheck<ChatResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        if (request.Messages.Count == 0) throw new ArgumentException("a chat request needs at least one message", nameof(request));
        CheckLimits(request.MaxTokens, request.N, request.TopLogprobs);
        return CallAsync(new Call<ChatResponse>(
                ChatKind, request.Model, JsonSerializer.Serialize(request, LlmJson.Default.ChatRequest), context,
                TokenEstimator.EstimatePrompt(request), TokenEstimator.PromptUpperBound(request), (long)request.MaxTokens * request.N,
                LlmJson.Default.ChatResponse, r => r.Usage, r => r.Choices.Count,
                r => r.Choices.Sum(c => TokenEstimator.Estimate(c.Content)), check),
            ct => _backend.ChatAsync(request, context, cancellationToken: ct), cancellationToken);
    }

    public Task<CompletionResponse> CompleteAsync(CompletionRequest request, LlmCallContext context, ReplyCheck<CompletionResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        CheckLimits(request.MaxTokens, request.N, request.Logprobs);
        // With echo the "completion" text repeats the prompt; only the generated part is completion tokens.
        int promptEstimate = TokenEstimator.Estimate(request.Prompt);
        return CallAsync(new Call<CompletionResponse>(
                CompletionKind, request.Model, JsonSerializer.Serialize(request, LlmJson.Default.CompletionRequest), context,
                promptEstimate, TokenEstimator.UpperBound(request.Prompt), (long)request.MaxTokens * request.N,
                LlmJson.Default.CompletionResponse, r => r.Usage, r => r.Choices.Count,
                r => r.Choices.Sum(c => Math.Max(0, TokenEstimator.Estimate(c.Text) - (request.Echo ? promptEstimate : 0))), check),
            ct => _backend.CompleteAsync(request, context, cancellationToken: ct), cancellationToken);
    }

    // Caller mistakes, caught before they cost a round trip (OpenAI's limits: up to 20 alternatives, n >= 1).
    private static void CheckLimits(int maxTokens, int n, int? topLogprobs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (topLogprobs is { } top) ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)top, 20u, "top logprobs");
    }

    /// <summary>One call's facts, independent of chat or completions.</summary>
    private sealed record Call<T>(
        string Kind, string Model, string RequestJson, LlmCallContext Context,
        int PromptEstimate, int PromptBound, long MaxCompletionTokens,
        JsonTypeInfo<T> ResponseType, Func<T, TokenUsage?> UsageOf, Func<T, int> ChoiceCount, Func<T, int> CompletionEstimate,
        ReplyCheck<T>? Check)
    {
        public bool Accepts(T response) => Check?.Invoke(response) is null;
    }

    private async Task<T> CallAsync<T>(Call<T> call, Func<CancellationToken, Task<T>> send, CancellationToken cancellationToken) where T : class
    {
        string key = CacheKey(call.Kind, call.RequestJson);
        var price = _prices.PriceOf(call.Model, _endpoint);
        if (CachedAnswer(call, key) is { } hit) return Reused(call, hit);

        if (_options.DryRun)
        {
            decimal estimate = price.Cost(call.PromptEstimate, call.MaxCompletionTokens);
            Record(u => (u with
            {
                Calls = u.Calls + 1, PromptTokens = u.PromptTokens + call.PromptEstimate,
                CompletionTokens = u.CompletionTokens + call.MaxCompletionTokens, Cost = u.Cost + estimate,
            }).WithPurpose(call.Context.Purpose, call.PromptEstimate, 0, call.MaxCompletionTokens, estimate));
            throw new LlmDryRunException($"dry run: {call.Kind} call{For(call.Context)} counted, not sent");
        }

        // The same request already on its way (e.g. the same excerpt simulated for two neurons at once) is
        // waited for, not sent and paid a second time, unless its reply is one this caller rejects.
        var mine = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task running;
        while ((running = _inFlight.GetOrAdd(key, mine.Task)) != mine.Task)
        {
            var shared = await ((Task<T>)running).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (call.Accepts(shared)) return Reused(call, shared);
            _inFlight.TryRemove(new KeyValuePair<string, Task>(key, running));
        }
        try
        {
            if (await AnsweredElsewhereAsync(call, key, cancellationToken).ConfigureAwait(false) is { } elsewhere)
            {
                mine.SetResult(elsewhere);
                return Reused(call, elsewhere);
            }
            T response;
            try
            {
                response = await SendPaidAsync(call, key, price, send, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // A paid call's mark ends with its ledger entry; one that failed ends here.
                _store.ReleaseCall(key, _owner);
                throw;
            }
            mine.SetResult(response);
            return response;
        }
        catch (Exception e)
        {
            mine.SetException(e);
            _ = mine.Task.Exception; // observed here; waiters, if any, get it too
            throw;
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Task>(key, mine.Task));
        }
    }

    /// <summary>
    /// Marks the request as being sent by this pipeline in the store; while another process (a worker beside this one)
    /// sends the same request, waits for its answer in the cache rather than paying for the call again. Null when this
    /// pipeline is to send it (no one else is, the other's mark lapsed, or its answer was not one this caller accepts).
    /// </summary>
    private async Task<T?> AnsweredElsewhereAsync<T>(Call<T> call, string key, CancellationToken cancellationToken) where T : class
    {
        // The claim looks in the cache in its own transaction, which saves reading it again on every paid call; only a cached
        // answer this caller rejects makes it claim regardless.
        bool unlessCached = true;
        while (true)
        {
            var now = _time.GetUtcNow();
            switch (_store.TryClaimCall(key, _owner, now + CallMarkLease, now, unlessCached))
            {
                case CallClaim.Claimed:
                    EnsureCallRenewal();
                    return null;
                case CallClaim.Cached:
                    // Another process's mark ends in the write that caches its answer, so one that finished since this call
                    // last looked has its answer in the cache now: taken, not paid for again.
                    if (CachedAnswer(call, key) is { } answered) return answered;
                    unlessCached = false;
                    continue;
            }
            await Task.Delay(CallWaitPoll, _time, cancellationToken).ConfigureAwait(false);
            if (CachedAnswer(call, key) is { } hit) return hit;
        }
    }

    /// <summary>The cached answer to the call's request, when there is one the call accepts.</summary>
    private T? CachedAnswer<T>(Call<T> call, string key) where T : class =>
        _store.GetCachedResponse(key) is { } cached && TryRead(cached.Response, call.ResponseType) is { } hit && call.Accepts(hit) ? hit : null;

    /// <summary>How often a call another process sends is looked for in the cache.</summary>
    private static readonly TimeSpan CallWaitPoll = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a mark lasts unless renewed (every quarter of it while this pipeline lives): a killed worker's
    /// marks stop others waiting for its answers after this.</summary>
    private static readonly TimeSpan CallMarkLease = TimeSpan.FromSeconds(20);

    private ITimer? _callRenewal;

    private void EnsureCallRenewal()
    {
        if (Volatile.Read(ref _callRenewal) is not null) return;
        var timer = _time.CreateTimer(_ => RenewCallMarks(), null, CallMarkLease / 4, CallMarkLease / 4);
        if (Interlocked.CompareExchange(ref _callRenewal, timer, null) is not null) timer.Dispose();
    }

    /// <summary>A failed renewal (the store unreachable for a moment) only risks another process sending the call too.</summary>
    private void RenewCallMarks()
    {
        try
        {
            _store.RenewCalls(_owner, _time.GetUtcNow() + CallMarkLease);
        }
        catch (NeuronExplainerException)
        {
        }
    }

    /// <summary>An answer paid for before (cache) or by a concurrent identical call: free, ledgered as from-cache.</summary>
    private T Reused<T>(Call<T> call, T response)
    {
        var usage = call.UsageOf(response) ?? new TokenUsage(0, 0);
        Record(u => u with { CachedCalls = u.CachedCalls + 1 });
        if (!_options.DryRun)
            _store.AddLedgerEntry(new LedgerEntry(call.Context.Neuron, call.Model, call.Context.Purpose,
                usage.PromptTokens, usage.CompletionTokens, 0m, FromCache: true, _time.GetUtcNow()));
        return response;
    }

    private async Task<T> SendPaidAsync<T>(Call<T> call, string key, ModelPrice price, Func<CancellationToken, Task<T>> send,
        CancellationToken cancellationToken)
    {
        decimal worstCase = price.Cost(call.PromptBound, call.MaxCompletionTokens);
        Reserve(worstCase, call);
        T response;
        string? shared = null;
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                shared = ReserveShared(worstCase, call);
                response = await SendWithRetriesAsync(call, send, cancellationToken).ConfigureAwait(false);
            }
            finally { _slots.Release(); }
        }
        catch
        {
            if (shared is not null) _store.ReleaseBudget(shared);
            throw;
        }
        finally
        {
            lock (_lock) _reserved -= worstCase;
        }

        // The server's count when it gives one; our estimate otherwise.
        var usage = call.UsageOf(response) ?? new TokenUsage(call.PromptEstimate, call.CompletionEstimate(response));
        decimal cost = price.Cost(usage.PromptTokens, usage.CompletionTokens, usage.CachedPromptTokens);
        Record(u => (u with
        {
            Calls = u.Calls + 1, PromptTokens = u.PromptTokens + usage.PromptTokens, CachedPromptTokens = u.CachedPromptTokens + usage.CachedPromptTokens,
            CompletionTokens = u.CompletionTokens + usage.CompletionTokens, Cost = u.Cost + cost,
        }).WithPurpose(call.Context.Purpose, usage.PromptTokens, usage.CachedPromptTokens, usage.CompletionTokens, cost));
        var now = _time.GetUtcNow();
        var answer = call.Accepts(response) ? new LlmCacheEntry(key, call.Model, call.RequestJson, JsonSerializer.Serialize(response, call.ResponseType), now) : null;
        // The reservation ends in the transaction that adds the cost to the store's spend, so other processes never see the call as free.
        _store.AddLedgerEntry(new LedgerEntry(call.Context.Neuron, call.Model, call.Context.Purpose,
            usage.PromptTokens, usage.CompletionTokens, cost, FromCache: false, now) { CachedPromptTokens = usage.CachedPromptTokens }, answer,
            new CallHold(key, _owner, shared));
        return response;
    }

    private void Reserve<T>(decimal worstCase, Call<T> call)
    {
        lock (_lock)
        {
            if (_options.MaxCost is decimal max && _usage.Cost + _reserved + worstCase > max)
                throw new LlmBudgetExceededException(
                    $"budget reached: spent ${_usage.Cost:0.####} of LlmPipelineOptions.MaxCost ${max:0.####}; the next {call.Kind} call{For(call.Context)} could cost up to ${worstCase:0.####}, so it was not sent");
            _reserved += worstCase;
        }
    }

    /// <summary>
    /// Reserves the call's worst case of the budget in the store, which every process on the store shares (workers
    /// on other machines too); held until the call is ledgered or failed, and lapsing after the longest a call takes.
    /// </summary>
    private string? ReserveShared<T>(decimal worstCase, Call<T> call)
    {
        if (_options.MaxCost is not decimal max) return null;
        var now = _time.GetUtcNow();
        return _store.TryReserveBudget(worstCase, max, now + _options.MaxCallTime + TimeSpan.FromMinutes(1), now)
            ?? throw new LlmBudgetExceededException(string.Create(CultureInfo.InvariantCulture,
                $"budget reached: the store's LLM calls cost ${_store.GetBudget(now).Spent:0.####} of LlmPipelineOptions.MaxCost ${max:0.####} (with the calls in flight of every process on it); the next {call.Kind} call{For(call.Context)} could cost up to ${worstCase:0.####}, so it was not sent"));
    }

    private async Task<T> SendWithRetriesAsync<T>(Call<T> call, Func<CancellationToken, Task<T>> send, CancellationToken cancellationToken)
    {
        int attempts = 0;
        string lastError = "no attempt finished";
        try
        {
            var answered = await _resilience.ExecuteAsync(async ct =>
            {
                // Once the breaker is open no attempt is sent: neither a new call's first nor a retrying call's next.
                if (Volatile.Read(ref _unavailable) is { } opened) throw new LlmServerUnavailableException(opened);
                attempts++;
                try
                {
                    var response = await send(ct).ConfigureAwait(false);
                    if (call.ChoiceCount(response) == 0)
                        throw new LlmServerException("the response has no choices", status: null, transient: true);
                    return response;
                }
                catch (LlmServerException e)
                {
                    lastError = e.Message;
                    if (e.Transient) AnnounceRetry(call, attempts, lastError);
                    throw;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    lastError = $"no answer within {_options.AttemptTimeout.TotalSeconds:0.#} s";
                    AnnounceRetry(call, attempts, lastError);
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            return answered;
        }
        catch (Exception e) when (e is LlmServerException or TimeoutRejectedException)
        {
            Record(u => u with { FailedCalls = u.FailedCalls + 1 });
            string why = e is TimeoutRejectedException && attempts < _options.MaxAttempts
                ? $"gave up after {_options.MaxCallTime.TotalSeconds:0.#} s and {attempts} attempt(s)"
                : $"failed after {attempts} attempt(s)";
            int inARow = Interlocked.Increment(ref _consecutiveFailures);
            if (inARow >= _options.MaxConsecutiveFailures)
            {
                Interlocked.CompareExchange(ref _unavailable,
                    $"the server at {_endpoint.BaseUrl} failed {inARow} calls in a row (each after its retries), so no more are sent; last error: {lastError}", null);
                throw new LlmServerUnavailableException(_unavailable!);
            }
            throw new LlmCallFailedException($"{call.Kind} call to {_endpoint.BaseUrl}{For(call.Context)} {why}; last error: {lastError}", e);
        }
    }

    private void AnnounceRetry<T>(Call<T> call, int attempt, string error)
    {
        if (attempt < _options.MaxAttempts)
            Retrying?.Invoke($"{call.Kind} call{For(call.Context)}: attempt {attempt} of {_options.MaxAttempts} failed ({error}); retrying");
    }

    private static ResiliencePipeline BuildResilience(LlmPipelineOptions options, TimeProvider time)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time }.AddTimeout(options.MaxCallTime);
        if (options.MaxAttempts > 1)
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<LlmServerException>(e => e.Transient).Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseRetryDelay,
                MaxDelay = options.MaxRetryDelay,
                // A server that says when to come back is believed, up to our longest wait.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Exception is LlmServerException { RetryAfter: { } wait }
                    ? (TimeSpan?)(wait < options.MaxRetryDelay ? wait : options.MaxRetryDelay)
                    : null),
            });
        return builder.AddTimeout(options.AttemptTimeout).Build();
    }

    private string CacheKey(string kind, string requestJson) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{kind}\n{_endpoint.BaseUrl.AbsoluteUri}\n{requestJson}")));

    // A cache row this version cannot read is a miss: the call is made again and the row replaced.
    private static T? TryRead<T>(string json, JsonTypeInfo<T> type) where T : class
    {
        try { return JsonSerializer.Deserialize(json, type); }
        catch (JsonException) { return null; }
    }

    private static string For(LlmCallContext context) => context.Neuron is { } n ? $" for neuron {n} ({context.Purpose})" : $" ({context.Purpose})";

    private void Record(Func<LlmUsage, LlmUsage> change)
    {
        lock (_lock) _usage = change(_usage);
    }

    public void Dispose()
    {
        _callRenewal?.Dispose();
        _slots.Dispose();
        _ownedBackend?.Dispose();
    }
}
