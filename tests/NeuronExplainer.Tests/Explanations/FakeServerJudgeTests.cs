using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>LLM detection and fuzzing against the fake OpenAI-compatible server, through the real pipeline and store.</summary>
public sealed class FakeServerJudgeTests : IAsyncLifetime, IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-judge-llm-" + Guid.NewGuid().ToString("N"));
    FakeOpenAiServer server = null!;
    SqliteNeuronStore store = null!;

    public async Task InitializeAsync()
    {
        server = await FakeOpenAiServer.StartAsync();
        // A judge that knows the neuron: the excerpt holds " cat" (detection), or " cat" is what is marked (fuzzing).
        server.JudgeExcerpts(line => line.Contains("<< cat>>", StringComparison.Ordinal)
            || (!line.Contains("<<", StringComparison.Ordinal) && line.Contains(" cat", StringComparison.Ordinal)));
        store = SqliteNeuronStore.Open(directory);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    LlmPipeline Pipeline() => server.Pipeline(store);

    /// <summary>The cat neuron, with random excerpts free of " cat" so "no" is right for them.</summary>
    static NeuronRecord Cat(int neuron = 0)
    {
        var record = SyntheticNeurons.Cat(0, neuron, seed: neuron + 1);
        var quiet = SyntheticNeurons.Make(new NeuronId(0, neuron), (t, i) => t[i] == " cat" ? 5 : 0.1, seed: 40 + neuron);
        return record with { RandomSample = [.. quiet.RandomSample.Concat(quiet.MostPositiveActivationRecords).Where(r => !r.Tokens.Contains(" cat")).Take(9)] };
    }

    static ScorerInput Input(NeuronRecord record) => new(record, "the word cat", SimulationScorer.Score([], []));

    [Fact]
    public async Task Detection_reads_yes_and_no_with_their_logprobs_into_balanced_accuracy_and_AUC()
    {
        using var llm = Pipeline();
        var record = Cat();
        Assert.NotEmpty(record.RandomRecords("valid"));
        var scores = await new JudgedScorer(JudgeTask.Detection, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(record), CancellationToken.None);

        Assert.Equal(["detection", "detection-auc"], scores.Select(s => s.Method));
        Assert.Equal(1.0, scores[0].Value);
        Assert.Equal(1.0, scores[1].Value);
        int excerpts = JudgedExcerpts.Detection(record, 0).Count;
        Assert.Equal((excerpts + LlmJudge.BatchSize - 1) / LlmJudge.BatchSize, server.Count(FakeOpenAiServer.Chat));
        Assert.All(server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat), r => Assert.NotNull(r.TopLogprobs));
    }

    [Fact]
    public async Task The_prompt_prefix_is_byte_identical_for_every_neuron_and_the_neuron_comes_last()
    {
        using var llm = Pipeline();
        foreach (var neuron in new[] { 0, 1 })
            await new JudgedScorer(JudgeTask.Fuzzing, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(Cat(neuron)) with { Explanation = $"cats {neuron}" }, CancellationToken.None);
        var requests = server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat).ToList();
        Assert.True(requests.Count >= 4);
        var prefix = requests[0].Messages.SkipLast(1).ToList();
        Assert.Equal(JudgePrompts.Prefix(JudgeTask.Fuzzing).Select(m => m.Content), prefix);
        Assert.All(requests, r => Assert.Equal(prefix, r.Messages.SkipLast(1)));
        Assert.Contains("cats 1", requests[^1].Messages[^1]);
        Assert.DoesNotContain(prefix, m => m.Contains("cats 0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Fuzzing_judges_marked_tokens_and_without_logprobs_leaves_AUC_undefined()
    {
        server.Enqueue(FakeOpenAiServer.Chat, [.. Enumerable.Repeat(FakeReply.NoLogprobs, 50)]);
        using var llm = Pipeline();
        var scores = await new JudgedScorer(JudgeTask.Fuzzing, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(Cat()), CancellationToken.None);
        Assert.Equal(1.0, scores[0].Value);
        Assert.Null(scores[1].Value);
        Assert.False(scores[1].Failed);
        Assert.Contains("no logprobs", scores[1].UndefinedReason);
        Assert.Contains(server.Requests, r => r.Endpoint == FakeOpenAiServer.Chat && r.Messages[^1].Contains("<< cat>>", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("yes\nno", "after 3 attempts, the reply has 2 answer lines for 10 excerpts")]
    [InlineData("I cannot tell from these excerpts.", "line 1 of the reply is 'I cannot tell from these excerpts.', not yes or no")]
    public async Task A_wrong_count_or_a_non_answer_is_asked_again_then_fails_with_the_reason_never_a_number(string reply, string reason)
    {
        server.ChatContent = (_, _) => reply;
        using var llm = Pipeline();
        var scores = await new JudgedScorer(JudgeTask.Detection, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(Cat()), CancellationToken.None);
        Assert.All(scores, s =>
        {
            Assert.True(s.Failed);
            Assert.Null(s.Value);
            Assert.Contains(reason, s.UndefinedReason);
        });
        Assert.Equal(3, server.Count(FakeOpenAiServer.Chat));
        // Rejected replies are not cached: a later attempt reaches the server again.
        Assert.DoesNotContain(store.ListLedger(), e => e.FromCache);
    }

    [Fact]
    public async Task A_refusal_is_asked_again_and_then_named_as_the_reason()
    {
        server.Enqueue(FakeOpenAiServer.Chat, [.. Enumerable.Repeat(FakeReply.Refusing("I'm sorry, I can't help with that."), 3)]);
        using var llm = Pipeline();
        var scores = await new JudgedScorer(JudgeTask.Detection, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(Cat()), CancellationToken.None);
        Assert.True(scores[0].Failed);
        Assert.Contains("the model refused: 'I'm sorry, I can't help with that.'", scores[0].UndefinedReason);
        Assert.Equal(3, server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public void Replies_numbered_by_position_are_read_and_a_wrong_number_is_not()
    {
        Assert.Equal([true, false], LlmJudge.Read(2, new ChatChoice(0, "1: yes\n2. No", null, "stop")).Answers!.Select(a => a.Yes));
        Assert.Contains("line 2 of the reply is '3: no'", LlmJudge.Read(2, new ChatChoice(0, "1: yes\n3: no", null, "stop")).Problem);
    }

    [Fact]
    public async Task A_scored_neuron_is_scored_again_from_the_cache_without_a_call()
    {
        var record = Cat();
        using (var llm = Pipeline())
            await new JudgedScorer(JudgeTask.Detection, new LlmJudge(llm, "fake-chat")).ScoreAsync(Input(record), CancellationToken.None);
        int calls = server.Count(FakeOpenAiServer.Chat);
        using (var again = Pipeline())
        {
            var scores = await new JudgedScorer(JudgeTask.Detection, new LlmJudge(again, "fake-chat")).ScoreAsync(Input(record), CancellationToken.None);
            Assert.Equal(1.0, scores[0].Value);
        }
        Assert.Equal(calls, server.Count(FakeOpenAiServer.Chat));
    }
}
