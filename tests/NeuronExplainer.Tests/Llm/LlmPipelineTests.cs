using NeuronExplainer.Cli;
using NeuronExplainer.Activations;
using Microsoft.Extensions.Time.Testing;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

public sealed class LlmPipelineTests : IAsyncLifetime
{
    private static readonly LlmPipelineOptions Fast = new()
    {
        BaseRetryDelay = TimeSpan.FromMilliseconds(1),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
        AttemptTimeout = TimeSpan.FromSeconds(5),
        MaxCallTime = TimeSpan.FromSeconds(30),
    };

    private static readonly NeuronId Neuron = new(2, 7);
    private FakeOpenAiServer _server = null!;
    private readonly InMemoryLlmStore _store = new();

    public async Task InitializeAsync() => _server = await FakeOpenAiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private LlmEndpoint Endpoint => new(_server.BaseUrl);

    private LlmPipeline Pipeline(LlmPipelineOptions? options = null, PriceTable? prices = null, string? apiKey = null, TimeProvider? time = null) =>
        new(new OpenAiCompatibleBackend(Endpoint, apiKey), Endpoint, options ?? Fast, prices ?? PriceTable.Default, _store, time, ownsBackend: true);

    /// <summary>Runs <paramref name="test"/> with a fresh environment variable holding <paramref name="key"/>; gets its name.</summary>
    private static async Task WithKeyVariable(string key, Func<string, Task> test)
    {
        string variable = $"NE_TEST_KEY_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, key);
        try { await test(variable); }
        finally { Environment.SetEnvironmentVariable(variable, null); }
    }

    private static ChatRequest Ask(string question, int? topLogprobs = null, int n = 1) =>
        new("fake-chat", [ChatMessage.System("You explain neurons."), ChatMessage.User(question)], MaxTokens: 60, Temperature: 0, N: n, TopLogprobs: topLogprobs);

    /// <summary>A price table where fake-chat costs $1 per million prompt and $2 per million completion tokens.</summary>
    private static PriceTable FakePrices()
    {
        string path = Path.Combine(Path.GetTempPath(), $"prices-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"fake-chat": {"prompt_per_million": 1.0, "completion_per_million": 2.0}}""");
        try { return PriceTable.Load(path); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_pipeline_raises_the_thread_pool_floor_to_its_calls_in_flight()
    {
        // Each call in flight blocks a pool thread in synchronous store calls; below this floor they wait for thread injection.
        using var llm = Pipeline(Fast with { Concurrency = 150 });
        ThreadPool.GetMinThreads(out int workers, out _);
        Assert.True(workers >= 150 + Environment.ProcessorCount, $"{workers} pool threads at least");
    }

    [Fact]
    public async Task ChatReturnsEveryChoiceWithTokenLogprobsAndSortedAlternatives()
    {
        _server.ChatContent = (_, i) => $"answer {i}";
        using var llm = Pipeline();

        var response = await llm.ChatAsync(Ask("what fires?", topLogprobs: 2, n: 2), LlmCallContext.Explain(Neuron));

        Assert.Equal(["answer 0", "answer 1"], response.Choices.Select(c => c.Content));
        var tokens = response.Choices[1].Logprobs!;
        Assert.Equal("answer 1", string.Concat(tokens.Select(t => t.Token)));
        Assert.All(tokens, t => Assert.Equal(-0.05, t.Logprob));
        Assert.All(tokens, t => Assert.Equal(2, t.TopLogprobs.Count));
        Assert.All(tokens, t => Assert.True(t.TopLogprobs[0].Logprob >= t.TopLogprobs[1].Logprob));
        var sent = _server.Requests.Single();
        Assert.Equal(2, sent.N);
        Assert.Equal(2, sent.TopLogprobs);
        Assert.Equal(["You explain neurons.", "what fires?"], sent.Messages);
    }

    [Fact]
    public async Task EchoedCompletionGivesEveryPromptTokenItsLogprobAlternativesAndOffset()
    {
        _server.PromptTokens = _ => [new("a", -1, [new("a", -1)]), new("\tb", -0.5, [new("\tc", -0.2), new("\tb", -0.5)]), new("\n", -0.1, [new("\n", -0.1)])];
        using var llm = Pipeline();

        var response = await llm.CompleteAsync(new CompletionRequest("fake-instruct", "a\tb\n", MaxTokens: 0, Echo: true, Logprobs: 2), LlmCallContext.Simulate(Neuron));

        var tokens = response.Choices.Single().Logprobs!;
        Assert.Equal(["a", "\tb", "\n"], tokens.Select(t => t.Token));
        Assert.Null(tokens[0].Logprob);
        Assert.Empty(tokens[0].TopLogprobs);
        Assert.Equal(-0.5, tokens[1].Logprob);
        Assert.Equal([new TopLogprob("\tc", -0.2), new TopLogprob("\tb", -0.5)], tokens[1].TopLogprobs);
        Assert.Equal([0, 1, 3], tokens.Select(t => t.TextOffset!.Value));
        Assert.Equal("a\tb\n", response.Choices[0].Text);
        Assert.Equal(0, _server.Requests.Single().MaxTokens);
        Assert.True(_server.Requests.Single().Echo);
    }

    [Fact]
    public async Task MissingLogprobsStayMissingInsteadOfBecomingZeros()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.NoLogprobs);
        using var llm = Pipeline();

        var response = await llm.ChatAsync(Ask("q", topLogprobs: 5), LlmCallContext.Simulate(Neuron));

        Assert.Null(response.Choices.Single().Logprobs);
    }

    [Fact]
    public async Task RateLimitsServerErrorsTruncatedBodiesAndHangsAreRetried()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(429), FakeReply.Error(500), FakeReply.TruncatedJson, FakeReply.Hang, FakeReply.Error(503));
        using var llm = Pipeline(Fast with { AttemptTimeout = TimeSpan.FromMilliseconds(500), MaxAttempts = 6 });
        var notices = new List<string>();
        llm.Retrying += notices.Add;

        var response = await llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));

        Assert.Equal("the main thing this neuron does is find dogs", response.Choices.Single().Content);
        Assert.Equal(6, _server.Count(FakeOpenAiServer.Chat));
        Assert.Equal(5, notices.Count);
        Assert.StartsWith("chat call for neuron 2/7 (explain): attempt 1 of 6 failed (HTTP 429 TooManyRequests", notices[0]);
        Assert.Contains("not valid JSON", notices[2]);
        Assert.Contains("no answer within 0.5 s", notices[3]);
        Assert.Equal(1, llm.Usage.Calls);
        Assert.Equal(0, llm.Usage.FailedCalls);
    }

    [Fact]
    public async Task RetryAfterSecondsIsHonoured()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(429, retryAfter: "1"));
        var time = new FakeTimeProvider();
        using var llm = Pipeline(Fast with { MaxRetryDelay = TimeSpan.FromSeconds(5) }, time: time);
        var retrying = new TaskCompletionSource();
        llm.Retrying += _ => retrying.TrySetResult();

        var call = llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
        await retrying.Task;
        var waited = await AdvanceUntil(time, () => _server.Count(FakeOpenAiServer.Chat) == 2);
        await call;

        Assert.Equal(2, _server.Count(FakeOpenAiServer.Chat));
        // Our own backoff is 1 ms here; only the server's Retry-After explains a wait of about a second of the pipeline's clock.
        Assert.InRange(waited.TotalSeconds, 0.9, 4.0);
    }

    /// <summary>
    /// Moves the pipeline's clock on in 5 ms steps, letting the pipeline run between them, until <paramref name="done"/>;
    /// returns how far the clock moved (a minute at most). Waits and timeouts then take no real time.
    /// </summary>
    private static async Task<TimeSpan> AdvanceUntil(FakeTimeProvider time, Func<bool> done)
    {
        var start = time.GetUtcNow();
        while (!done() && time.GetUtcNow() - start < TimeSpan.FromMinutes(1))
        {
            time.Advance(TimeSpan.FromMilliseconds(5));
            await Task.Delay(1);
        }
        return time.GetUtcNow() - start;
    }

    [Fact]
    public void RetryAfterIsReadAsSecondsOrHttpDate()
    {
        var now = new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(7), LlmServerException.ParseRetryAfter("7", now));
        Assert.Equal(TimeSpan.FromSeconds(1.5), LlmServerException.ParseRetryAfter("1.5", now));
        Assert.Equal(TimeSpan.FromSeconds(30), LlmServerException.ParseRetryAfter("Sat, 21 Nov 2026 09:00:30 GMT", now));
        Assert.Equal(TimeSpan.Zero, LlmServerException.ParseRetryAfter("Sat, 21 Nov 2026 08:59:00 GMT", now));
        Assert.Null(LlmServerException.ParseRetryAfter("soon", now));
        Assert.Null(LlmServerException.ParseRetryAfter("-3", now));
        Assert.Null(LlmServerException.ParseRetryAfter(null, now));
    }

    [Fact]
    public async Task RetriesAreBoundedAndTheFailureNamesServerStatusAndAttempts()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, Enumerable.Repeat(FakeReply.Error(500), 10).ToArray());
        using var llm = Pipeline(Fast with { MaxAttempts = 3 });

        var e = await Assert.ThrowsAsync<LlmCallFailedException>(() => llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron)));

        Assert.Equal(3, _server.Count(FakeOpenAiServer.Chat));
        Assert.Contains(_server.BaseUrl.ToString(), e.Message);
        Assert.Contains("HTTP 500", e.Message);
        Assert.Contains("3 attempt", e.Message);
        Assert.Contains("neuron 2/7", e.Message);
        Assert.Equal(1, llm.Usage.FailedCalls);
        Assert.Empty(_store.ListLedger());
        Assert.Equal(0, _store.CacheWrites);
    }

    [Fact]
    public async Task AServerThatFailsCallAfterCallIsNotAskedAgain()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(500), FakeReply.Error(500));
        using var llm = Pipeline(Fast with { MaxAttempts = 2, MaxConsecutiveFailures = 2 });

        // One failed call, then an answer: the count of failures in a row starts again.
        await Assert.ThrowsAsync<LlmCallFailedException>(() => llm.ChatAsync(Ask("q1"), LlmCallContext.Explain(Neuron)));
        var answered = await llm.ChatAsync(Ask("q-ok"), LlmCallContext.Explain(Neuron));
        Assert.NotEmpty(answered.Choices);
        _server.Enqueue(FakeOpenAiServer.Chat, Enumerable.Repeat(FakeReply.Error(500), 10).ToArray());

        await Assert.ThrowsAsync<LlmCallFailedException>(() => llm.ChatAsync(Ask("q2"), LlmCallContext.Explain(Neuron)));
        var open = await Assert.ThrowsAsync<LlmServerUnavailableException>(() => llm.ChatAsync(Ask("q3"), LlmCallContext.Explain(Neuron)));
        Assert.Contains("failed 2 calls in a row", open.Message);
        Assert.Contains("HTTP 500", open.Message);
        int sent = _server.Count(FakeOpenAiServer.Chat);
        Assert.Equal(2 + 1 + 2 + 2, sent);

        await Assert.ThrowsAsync<LlmServerUnavailableException>(() => llm.ChatAsync(Ask("q4"), LlmCallContext.Explain(Neuron)));
        Assert.Equal(sent, _server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task RetriesAreBoundedInTime()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, Enumerable.Repeat(FakeReply.Hang, 10).ToArray());
        var time = new FakeTimeProvider();
        using var llm = Pipeline(Fast with { AttemptTimeout = TimeSpan.FromMilliseconds(300), MaxCallTime = TimeSpan.FromMilliseconds(800), MaxAttempts = 10 }, time: time);

        var call = llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
        await AdvanceUntil(time, () => call.IsCompleted);
        var e = await Assert.ThrowsAsync<LlmCallFailedException>(() => call);

        Assert.Contains("gave up after 0.8 s", e.Message);
        Assert.Contains("no answer within 0.3 s", e.Message);
        Assert.InRange(_server.Count(FakeOpenAiServer.Chat), 2, 4);
    }

    [Fact]
    public async Task TruncatedJsonEveryTimeFailsWithTheReason()
    {
        _server.Enqueue(FakeOpenAiServer.Completions, Enumerable.Repeat(FakeReply.TruncatedJson, 3).ToArray());
        using var llm = Pipeline(Fast with { MaxAttempts = 3 });

        var e = await Assert.ThrowsAsync<LlmCallFailedException>(() =>
            llm.CompleteAsync(new CompletionRequest("fake-instruct", "hello", 0, Echo: true, Logprobs: 1), LlmCallContext.Simulate(Neuron)));

        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public async Task OutOfRangeRequestsAreRefusedWithoutARoundTrip()
    {
        using var llm = Pipeline();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => llm.ChatAsync(Ask("q", topLogprobs: 21), LlmCallContext.Explain(Neuron)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => llm.ChatAsync(Ask("q", n: 0), LlmCallContext.Explain(Neuron)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            llm.CompleteAsync(new CompletionRequest("fake-instruct", "p", MaxTokens: -1), LlmCallContext.Simulate(Neuron)));
        await Assert.ThrowsAsync<ArgumentException>(() => llm.ChatAsync(new ChatRequest("fake-chat", [], 5), LlmCallContext.Explain(Neuron)));
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task PermanentErrorsAreNotRetried()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(400));
        using var llm = Pipeline();

        var e = await Assert.ThrowsAsync<LlmCallFailedException>(() => llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron)));

        Assert.Equal(1, _server.Count(FakeOpenAiServer.Chat));
        Assert.Contains("HTTP 400", e.Message);
    }

    [Fact]
    public async Task TheSameRequestIsPaidOnceAlsoByANewPipelineOverTheSameStore()
    {
        var prices = FakePrices();
        using (var first = Pipeline(prices: prices))
        {
            await first.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
            await first.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
            Assert.Equal(1, first.Usage.CachedCalls);
        }
        // A new pipeline over the same store is the next process after a crash or a stop.
        using var second = Pipeline(prices: prices);
        var again = await second.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));

        Assert.Equal("the main thing this neuron does is find dogs", again.Choices.Single().Content);
        Assert.Equal(1, _server.Count(FakeOpenAiServer.Chat));
        var ledger = _store.ListLedger();
        Assert.Equal([false, true, true], ledger.Select(l => l.FromCache));
        Assert.True(ledger[0].Cost > 0);
        Assert.Equal(0m, ledger[1].Cost + ledger[2].Cost);
        Assert.Equal(0m, second.Usage.Cost);
    }

    [Fact]
    public async Task ModelAndBaseUrlArePartOfTheCacheKeyButTheContextIsNot()
    {
        using var llm = Pipeline();
        await llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
        await llm.ChatAsync(Ask("q"), LlmCallContext.Explain(new NeuronId(0, 1)));
        Assert.Equal(1, _server.Count(FakeOpenAiServer.Chat));

        await llm.ChatAsync(Ask("q") with { Temperature = 0.5 }, LlmCallContext.Explain(Neuron));
        await llm.ChatAsync(Ask("q") with { Model = "fake-chat-2" }, LlmCallContext.Explain(Neuron));
        Assert.Equal(3, _server.Count(FakeOpenAiServer.Chat));

        var otherUrl = new LlmEndpoint(new Uri(_server.BaseUrl.AbsoluteUri.Replace("127.0.0.1", "localhost")));
        using var viaOtherUrl = new LlmPipeline(new OpenAiCompatibleBackend(otherUrl, null), otherUrl, Fast, PriceTable.Default, _store, ownsBackend: true);
        await viaOtherUrl.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
        Assert.Equal(4, _server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task TheLedgerHasOneEntryPerCallWithTheServersTokenCountsAndPrices()
    {
        using var llm = Pipeline(prices: FakePrices());
        _server.ChatContent = (request, _) => $"reply to {request.Messages[^1]}";
        for (int i = 0; i < 3; i++)
            await llm.ChatAsync(Ask($"question {i}"), LlmCallContext.Explain(new NeuronId(1, i)));

        var ledger = _store.ListLedger();
        Assert.Equal(3, ledger.Count);
        Assert.Equal([0, 1, 2], ledger.Select(l => l.Neuron!.NeuronIndex));
        Assert.All(ledger, l => Assert.Equal(("fake-chat", "explain"), (l.Model, l.Purpose)));
        // Fake server: "You explain neurons." is 4 pieces, "question 0" is 3; "reply to question 0" is 5.
        Assert.All(ledger, l => Assert.Equal((7, 5), (l.PromptTokens, l.CompletionTokens)));
        Assert.All(ledger, l => Assert.Equal((7 * 1.0m + 5 * 2.0m) / 1_000_000m, l.Cost));
        Assert.Equal(ledger.Sum(l => l.Cost), llm.Usage.Cost);
        Assert.Equal(21, llm.Usage.PromptTokens);
        Assert.Equal(15, llm.Usage.CompletionTokens);
    }

    [Fact]
    public async Task MaxCostRefusesTheCallThatCouldExceedItAndSendsNothingMore()
    {
        var prices = FakePrices();
        var request = Ask("question 0");
        // Worst case of one call: prompt bytes + template bound, and all 60 max tokens.
        decimal worstCase = prices.PriceOf("fake-chat", Endpoint).Cost(TokenEstimator.PromptUpperBound(request), 60);
        using var llm = Pipeline(Fast with { MaxCost = worstCase * 2.5m }, prices);

        await llm.ChatAsync(request, LlmCallContext.Explain(Neuron));
        await llm.ChatAsync(Ask("question 1"), LlmCallContext.Explain(Neuron));
        await llm.ChatAsync(Ask("question 2"), LlmCallContext.Explain(Neuron));
        // The three calls actually cost far less than their worst case; keep going until the budget refuses.
        int sent = 3;
        var refused = await Assert.ThrowsAsync<LlmBudgetExceededException>(async () =>
        {
            for (; sent < 1000; sent++) await llm.ChatAsync(Ask($"question {sent}"), LlmCallContext.Explain(Neuron));
        });

        Assert.Contains("budget reached", refused.Message);
        Assert.Equal(sent, _server.Count(FakeOpenAiServer.Chat));
        Assert.True(llm.Usage.Cost <= worstCase * 2.5m);
        decimal refusedWorstCase = prices.PriceOf("fake-chat", Endpoint).Cost(TokenEstimator.PromptUpperBound(Ask($"question {sent}")), 60);
        Assert.True(llm.Usage.Cost + refusedWorstCase > worstCase * 2.5m);
        Assert.Equal(_store.ListLedger().Sum(l => l.Cost), llm.Usage.Cost);
    }

    [Fact]
    public async Task ConcurrentCallsReserveTheBudgetSoTogetherTheyCannotExceedIt()
    {
        var prices = FakePrices();
        decimal worstCase = prices.PriceOf("fake-chat", Endpoint).Cost(TokenEstimator.PromptUpperBound(Ask("question 0")), 60);
        _server.Delay = TimeSpan.FromMilliseconds(200);
        using var llm = Pipeline(Fast with { MaxCost = worstCase * 3.5m, Concurrency = 8 }, prices);

        var calls = Enumerable.Range(0, 8).Select(i => llm.ChatAsync(Ask($"question {i}"), LlmCallContext.Explain(Neuron))).ToList();
        var outcomes = await Task.WhenAll(calls.Select(async c => { try { await c; return "ok"; } catch (LlmBudgetExceededException) { return "refused"; } }));

        Assert.Equal(3, outcomes.Count(o => o == "ok"));
        Assert.Equal(3, _server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task AZeroBudgetAllowsCallsToALoopbackServerEvenUnderAnOpenAiModelName()
    {
        using var llm = Pipeline(Fast with { MaxCost = 0m });
        var response = await llm.ChatAsync(Ask("q") with { Model = "gpt-4o-mini" }, LlmCallContext.Explain(Neuron));

        Assert.Single(response.Choices);
        Assert.Equal(1, _server.Count(FakeOpenAiServer.Chat));
        Assert.Equal(0m, llm.Usage.Cost);
    }

    [Fact]
    public async Task ARejectedReplyIsNotCachedSoTheNextIdenticalRequestReachesTheServer()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.WithContent("bad"), FakeReply.WithContent("bad"));
        _server.ChatContent = (_, _) => "good";
        ReplyCheck<ChatResponse> check = r => r.Choices[0].Content == "good" ? null : "not good";
        using var llm = Pipeline();

        Assert.Equal("bad", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);
        Assert.Equal("bad", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);
        Assert.Equal("good", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);
        Assert.Equal("good", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);

        Assert.Equal(3, _server.Count(FakeOpenAiServer.Chat));
        Assert.Equal(1, _store.CacheWrites);
        // Every reply from the server is paid and ledgered, the rejected ones too.
        Assert.Equal([false, false, false, true], _store.ListLedger().Select(l => l.FromCache));
    }

    [Fact]
    public async Task ACachedReplyTheCallerRejectsIsAMissAndIsReplaced()
    {
        using (var old = Pipeline()) await old.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron));
        _server.ChatContent = (_, _) => "good";
        ReplyCheck<ChatResponse> check = r => r.Choices[0].Content == "good" ? null : "not good";
        using var llm = Pipeline();

        Assert.Equal("good", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);
        Assert.Equal("good", (await llm.ChatAsync(Ask("q"), LlmCallContext.Simulate(Neuron), check)).Choices[0].Content);
        Assert.Equal(2, _server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task AReplyRejectedByTheCallerIsNotSharedWithAConcurrentIdenticalRequest()
    {
        _server.Delay = TimeSpan.FromMilliseconds(200);
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.WithContent("bad"));
        _server.ChatContent = (_, _) => "good";
        ReplyCheck<ChatResponse> check = r => r.Choices[0].Content == "good" ? null : "not good";
        using var llm = Pipeline(Fast with { Concurrency = 4 });

        // The first call is in flight (registered synchronously) when the second arrives.
        var first = llm.ChatAsync(Ask("same"), LlmCallContext.Simulate(Neuron), check);
        var second = llm.ChatAsync(Ask("same"), LlmCallContext.Simulate(new NeuronId(0, 1)), check);

        Assert.Equal("bad", (await first).Choices[0].Content);
        Assert.Equal("good", (await second).Choices[0].Content);
        Assert.Equal(2, _server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task IdenticalRequestsInFlightTogetherArePaidOnce()
    {
        _server.Delay = TimeSpan.FromMilliseconds(200);
        using var llm = Pipeline(Fast with { Concurrency = 4 }, FakePrices());

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => llm.ChatAsync(Ask("same"), LlmCallContext.Explain(new NeuronId(0, i)))));

        Assert.Equal(1, _server.Count(FakeOpenAiServer.Chat));
        Assert.All(answers, a => Assert.Same(answers[0], a));
        Assert.Equal((1, 3), (llm.Usage.Calls, llm.Usage.CachedCalls));
        Assert.Equal(3, _store.ListLedger().Count(l => l.FromCache && l.Cost == 0));
    }

    [Fact]
    public async Task TheConcurrencyLimitHolds()
    {
        _server.Delay = TimeSpan.FromMilliseconds(150);
        using var llm = Pipeline(Fast with { Concurrency = 2 });

        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => llm.ChatAsync(Ask($"q{i}"), LlmCallContext.Explain(Neuron))));

        Assert.Equal(6, _server.Count(FakeOpenAiServer.Chat));
        Assert.Equal(2, _server.MaxInFlight);
    }

    [Fact]
    public async Task DryRunSendsNothingEstimatesTheRestAndServesCachedAnswers()
    {
        var prices = FakePrices();
        using (var paid = Pipeline(prices: prices)) await paid.ChatAsync(Ask("cached"), LlmCallContext.Explain(Neuron));
        int ledgerBefore = _store.ListLedger().Count;
        using var dry = await LlmPipeline.ConnectAsync(Endpoint, ["fake-chat"], Fast with { DryRun = true }, prices, _store);

        var cached = await dry.ChatAsync(Ask("cached"), LlmCallContext.Explain(Neuron));
        await Assert.ThrowsAsync<LlmDryRunException>(() => dry.ChatAsync(Ask("new one"), LlmCallContext.Explain(Neuron)));
        await Assert.ThrowsAsync<LlmDryRunException>(() => dry.ChatAsync(Ask("another", n: 2), LlmCallContext.Explain(Neuron)));

        Assert.Equal("the main thing this neuron does is find dogs", cached.Choices.Single().Content);
        Assert.Single(_server.Requests);
        Assert.Equal(ledgerBefore, _store.ListLedger().Count);
        var usage = dry.Usage;
        Assert.Equal((2, 1), (usage.Calls, usage.CachedCalls));
        Assert.Equal(60 + 120, usage.CompletionTokens);
        Assert.Equal(TokenEstimator.EstimatePrompt(Ask("new one")) + TokenEstimator.EstimatePrompt(Ask("another")), usage.PromptTokens);
        Assert.Equal(prices.PriceOf("fake-chat", Endpoint).Cost(usage.PromptTokens, usage.CompletionTokens), usage.Cost);
    }

    [Fact]
    public async Task ConnectChecksTheServerAndItsModelsBeforeAnyWork()
    {
        _server.Models.Add("llama3.1:latest");
        using var llm = await LlmPipeline.ConnectAsync(Endpoint, ["fake-chat", "fake-instruct", "llama3.1"], Fast, PriceTable.Default, _store);
        Assert.Equal(1, _server.Count(FakeOpenAiServer.ModelList));

        var e = await Assert.ThrowsAsync<NeuronExplainerException>(() =>
            LlmPipeline.ConnectAsync(Endpoint, ["gpt-7"], Fast, PriceTable.Default, _store));
        Assert.Contains("does not serve model 'gpt-7'", e.Message);
        Assert.Contains("fake-chat", e.Message);
    }

    [Fact]
    public async Task MissingApiKeyFailsBeforeAnyRequest()
    {
        string variable = $"NE_TEST_KEY_{Guid.NewGuid():N}";
        var remote = new LlmEndpoint(LlmEndpoint.OpenAiBaseUrl, variable);

        var e = await Assert.ThrowsAsync<NeuronExplainerException>(() =>
            LlmPipeline.ConnectAsync(remote, ["gpt-4o-mini"], Fast, PriceTable.Default, _store));

        Assert.Equal($"no API key for the LLM server https://api.openai.com/v1: environment variable {variable} (LlmEndpoint.ApiKeyEnv) is not set; set it or name another one", e.Message);
        Assert.Contains($"{variable} (--api-key-env) is not set", SettingFlags.Message(e));
    }

    [Fact]
    public Task ARejectedKeyIsOneClearErrorThatNeverShowsTheKey() => WithKeyVariable("sk-wrong-secret-123", async variable =>
    {
        _server.RequiredApiKey = "sk-right";
        var e = await Assert.ThrowsAsync<NeuronExplainerException>(() =>
            LlmPipeline.ConnectAsync(Endpoint with { ApiKeyEnv = variable }, ["fake-chat"], Fast, PriceTable.Default, _store));
        Assert.Contains($"refused the API key from environment variable {variable} (HTTP 401)", e.Message);
        Assert.DoesNotContain("secret", e.ToString());

        // During a run, too: the server's error body echoes the key, and the failure masks it.
        using var llm = Pipeline(apiKey: "sk-wrong-secret-123");
        var failed = await Assert.ThrowsAsync<LlmCallFailedException>(() => llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron)));
        Assert.Contains("HTTP 401", failed.Message);
        Assert.DoesNotContain("secret", failed.ToString());

        // Keys not shaped like sk-... are cut out too.
        using var vllm = Pipeline(apiKey: "token-abc123");
        var refused = await Assert.ThrowsAsync<LlmCallFailedException>(() => vllm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron)));
        Assert.Contains("Incorrect API key provided: ***", refused.Message);
        Assert.DoesNotContain("abc123", refused.ToString());
    });

    [Fact]
    public Task TheKeyFromTheNamedVariableIsSentOnceAsBearerOnEveryEndpoint() => WithKeyVariable("sk-right", async variable =>
    {
        _server.RequiredApiKey = "sk-right";
        using var llm = await LlmPipeline.ConnectAsync(Endpoint with { ApiKeyEnv = variable }, ["fake-chat"], Fast, PriceTable.Default, _store);
        await llm.ChatAsync(Ask("q"), LlmCallContext.Explain(Neuron));
        await llm.CompleteAsync(new CompletionRequest("fake-instruct", "p", 1), LlmCallContext.Simulate(Neuron));

        Assert.Equal([FakeOpenAiServer.ModelList, FakeOpenAiServer.Chat, FakeOpenAiServer.Completions], _server.Requests.Select(r => r.Endpoint));
        Assert.All(_server.Requests, r => Assert.Equal("Bearer sk-right", r.Authorization));
    });

    [Fact]
    public async Task AnUnreachableServerIsOneClearErrorBeforeAnyWork()
    {
        // A port that was just free: bind, note, release.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var nowhere = new LlmEndpoint(new Uri($"http://127.0.0.1:{port}/v1"));

        var e = await Assert.ThrowsAsync<NeuronExplainerException>(() =>
            LlmPipeline.ConnectAsync(nowhere, ["any"], Fast, PriceTable.Default, _store));

        Assert.StartsWith($"cannot reach the LLM server http://127.0.0.1:{port}/v1: network error:", e.Message);
    }

    [Fact]
    public async Task ARemoteModelWithoutAPriceIsRefusedUpFront()
    {
        var remote = new LlmEndpoint(new Uri("https://openrouter.ai/api/v1"));
        var e = await Assert.ThrowsAsync<NeuronExplainerException>(() =>
            LlmPipeline.ConnectAsync(remote, ["mystery-model"], Fast with { DryRun = true }, PriceTable.Default, _store));
        Assert.Contains("no price known for model 'mystery-model'", e.Message);
        Assert.Contains("give a price table (PriceTable.Load) with", e.Message);
        Assert.Contains("give a price table (--prices) with", SettingFlags.Message(e));
    }
}
