using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>The LLM explainer and simulators against the fake OpenAI-compatible server, through the real pipeline and store.</summary>
public sealed class FakeServerFlowTests : IAsyncLifetime, IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-explain-" + Guid.NewGuid().ToString("N"));
    FakeOpenAiServer server = null!;
    SqliteNeuronStore store = null!;

    public async Task InitializeAsync()
    {
        server = await FakeOpenAiServer.StartAsync();
        server.ChatContent = (request, _) => Answer(request.Messages[^1]);
        store = SqliteNeuronStore.Open(directory);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>
    /// A fake model that explains every neuron as "cats" and, simulating, gives 10 to lines of " cat" and 0 to the rest
    /// (the fake server splits "10" into the tokens "1" and "0").
    /// </summary>
    static string Answer(string lastMessage)
    {
        if (!lastMessage.Contains("unknown", StringComparison.Ordinal)) return "the main thing this neuron does is find the word cat.";
        var excerpt = lastMessage[(lastMessage.IndexOf("<start>\n", StringComparison.Ordinal) + 8)..lastMessage.IndexOf("<end>", StringComparison.Ordinal)];
        return string.Join('\n', excerpt.TrimEnd('\n').Split('\n').Select(line => line.StartsWith(" cat\t", StringComparison.Ordinal) ? "10" : "0"));
    }

    LlmPipeline Pipeline(LlmPipelineOptions? options = null) => server.Pipeline(store, options);

    static ExplainerInput Cat(int neuron = 0) => new(SyntheticNeurons.Cat(0, neuron, seed: neuron + 1), null);

    [Fact]
    public async Task Chat_explainer_and_simulator_score_a_cat_neuron_from_digit_logprobs()
    {
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        var chosen = result.Results!.ScoredExplanations[result.ChosenIndex!.Value];
        Assert.Equal("the word cat", chosen.Explanation);
        Assert.True(chosen.ScoredSimulation.EvCorrelationScore > 0.8, $"score {chosen.ScoredSimulation.EvCorrelationScore}");
        var simulation = chosen.ScoredSimulation.ScoredSequenceSimulations[0].Simulation.UncalibratedSimulation!;
        Assert.Equal(SimulationMethods.ChatLogprobs, simulation.Method);
        // Expected values, not the sampled digits: "10" is 9.5-ish after the split-token rule, never exactly 10.
        Assert.Contains(simulation.ExpectedActivations, v => v is > 9 and < 10);
        Assert.All(server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat && r.Messages[^1].Contains("unknown")),
            r => Assert.NotNull(r.TopLogprobs));
    }

    [Fact]
    public async Task Missing_logprobs_give_sampled_values_flagged_in_the_result()
    {
        server.Enqueue(FakeOpenAiServer.Chat, [.. Enumerable.Repeat(FakeReply.NoLogprobs, 100)]);
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        var sequences = result.Results!.ScoredExplanations[0].ScoredSimulation.ScoredSequenceSimulations;
        Assert.All(sequences, s => Assert.Equal(SimulationMethods.Sampled, s.Simulation.UncalibratedSimulation!.Method));
        Assert.All(sequences, s => Assert.All(s.Simulation.UncalibratedSimulation!.ExpectedActivations, v => Assert.True(v is 0 or 10)));
    }

    [Fact]
    public async Task Wrong_line_counts_are_retried_then_the_neuron_fails_with_the_reason_and_no_score()
    {
        server.ChatContent = (request, _) => request.Messages[^1].Contains("unknown") ? "0\n0" : "cats";
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);

        Assert.Equal(NeuronStatus.Failed, result.Status);
        Assert.Null(result.Results);
        Assert.Null(result.ChosenIndex);
        Assert.Contains("after 3 attempts, the reply has 2 value lines for 16 tokens", result.Reason);
        // One explain call, then three attempts at the first calibration excerpt; nothing after the failure.
        Assert.Equal(4, server.Count(FakeOpenAiServer.Chat));
    }

    [Fact]
    public async Task Rejected_replies_are_never_replayed_so_a_rerun_against_a_correct_server_reaches_it()
    {
        var record = Cat().Record;
        // A second neuron with the very same excerpts: identical simulation prompts.
        var twin = record with { NeuronId = new NeuronId(0, 1) };
        store.PutNeuronRecords([record]);
        server.ChatContent = (request, _) => request.Messages[^1].Contains("unknown") ? "0\n0" : Answer(request.Messages[^1]);
        using (var bad = Pipeline())
            await new ExplanationRunner(store, store, Flow(bad)).RunAsync([record.NeuronId], RunStep.ExplainAndScore);
        Assert.Equal(NeuronStatus.Failed, store.GetExplanationResult(record.NeuronId, "token-activation-pair:fake-chat", "chat:fake-chat")!.Status);

        server.ChatContent = (request, _) => Answer(request.Messages[^1]);
        int before = server.Count(FakeOpenAiServer.Chat);
        store.PutNeuronRecords([twin]);
        using (var good = Pipeline())
            await new ExplanationRunner(store, store, Flow(good)).RunAsync([record.NeuronId, twin.NeuronId], RunStep.ExplainAndScore);

        Assert.All(store.ListExplanationResults(), r => Assert.Equal(NeuronStatus.Done, r.Status));
        Assert.True(server.Count(FakeOpenAiServer.Chat) > before, "the rerun sent no call: a rejected reply was replayed from the cache");

        static ExplanationFlow Flow(LlmPipeline llm) =>
            new(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
    }

    [Fact]
    public async Task Server_errors_are_retried_by_the_pipeline_and_truncated_answers_never_become_numbers()
    {
        server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(500), FakeReply.Error(429, "0"), FakeReply.TruncatedJson);
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);
        Assert.Equal(NeuronStatus.Done, result.Status);

        server.Enqueue(FakeOpenAiServer.Chat, [.. Enumerable.Repeat(FakeReply.Error(500), 10)]);
        using var failing = Pipeline(FakeOpenAiServer.FastRetries with { MaxAttempts = 2 });
        var failed = await new ExplanationFlow(new LlmExplainer(failing, "fake-chat"), new ChatSimulator(failing, "fake-chat"), new ExplanationFlowOptions())
            .ExplainAndScoreAsync(Cat(1), CancellationToken.None);
        Assert.Equal(NeuronStatus.Failed, failed.Status);
        Assert.Null(failed.Results);
        Assert.Contains("500", failed.Reason);
    }

    /// <summary>
    /// The fake completions model: after " cat" lines it predicts 8 with some doubt, after lines whose token is in
    /// <paramref name="noValue"/> no value at all (only words among its top logprobs), elsewhere 0.
    /// </summary>
    void PredictCats(params string[] noValue) => server.PredictValueSlots(line =>
        line == " cat" ? [new("8", -0.2), new("unknown", -2), new("3", -2.5)]
        : noValue.Contains(line) ? [new("unknown", -0.1), new(" the", -3)]
        : [new("0", -0.1), new("1", -3)]);

    [Fact]
    public async Task All_at_once_simulation_reads_echoed_prompt_logprobs_from_a_completions_server()
    {
        PredictCats();
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new BaselineExplainer(), new AllAtOnceSimulator(llm, "fake-instruct"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        var simulation = result.Results!.ScoredExplanations[0].ScoredSimulation.ScoredSequenceSimulations[0].Simulation.UncalibratedSimulation!;
        Assert.Equal(SimulationMethods.PromptLogprobs, simulation.Method);
        Assert.Contains(simulation.ExpectedActivations, v => Math.Abs(v - (8 * Math.Exp(-0.2) + 3 * Math.Exp(-2.5)) / (Math.Exp(-0.2) + Math.Exp(-2.5))) < 1e-9);
        Assert.True(result.Results.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore > 0.8, $"score {result.Results.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore}");
        Assert.All(server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Completions), r => Assert.True(r.Echo && r.MaxTokens == 0));
    }

    [Fact]
    public async Task All_at_once_slots_without_a_value_are_scored_zero_counted_and_summarised_per_layer()
    {
        PredictCats(" big");
        var records = new[] { Cat(0).Record, SyntheticNeurons.Cat(layer: 1, neuron: 0, seed: 5) };
        store.PutNeuronRecords(records);
        using var llm = Pipeline();
        // About 1 token in 12 is " big"; a split can hold more than the default 10%, so allow 20% here.
        var flow = new ExplanationFlow(new BaselineExplainer(), new AllAtOnceSimulator(llm, "fake-instruct", maxNoValueShare: 0.2), new ExplanationFlowOptions());
        var ids = records.Select(r => r.NeuronId).ToList();
        await new ExplanationRunner(store, store, flow).RunAsync(ids, RunStep.ExplainAndScore);

        foreach (var record in records)
        {
            var result = store.GetExplanationResult(record.NeuronId, flow.ExplainerName, flow.SimulatorName)!;
            Assert.Equal(NeuronStatus.Done, result.Status);
            var sequences = result.Results!.ScoredExplanations[result.ChosenIndex!.Value].ScoredSimulation.ScoredSequenceSimulations;
            foreach (var s in sequences)
            {
                var uncalibrated = s.Simulation.UncalibratedSimulation!;
                var big = s.Simulation.Tokens.Select((t, i) => (t, i)).Where(x => x.t == " big").Select(x => x.i).ToList();
                Assert.Equal(big.Count, uncalibrated.NoValueSlots);
                Assert.All(big, i => Assert.Equal(0, uncalibrated.ExpectedActivations[i]));
                Assert.All(big, i => Assert.Empty(uncalibrated.DistributionProbabilities[i]));
            }
        }
        var shares = RunSummary.NoValueShares(store, ids, flow.ExplainerName, flow.SimulatorName);
        Assert.Equal([0, 1, null], shares.Select(r => r.Layer));
        for (int layer = 0; layer < 2; layer++)
        {
            var valid = records[layer].ValidRecords();
            Assert.Equal(valid.Sum(r => r.Tokens.Count), shares[layer].Slots);
            Assert.Equal(valid.Sum(r => r.Tokens.Count(t => t == " big")), shares[layer].NoValueSlots);
            Assert.InRange(shares[layer].Share!.Value, 0.02, 0.2);
        }
        Assert.Equal(shares[0].NoValueSlots + shares[1].NoValueSlots, shares[2].NoValueSlots);
    }

    [Fact]
    public async Task All_at_once_fails_the_neuron_with_the_share_when_too_many_slots_have_no_value()
    {
        PredictCats(" big", " the", " a");
        using var llm = Pipeline();
        var flow = new ExplanationFlow(new BaselineExplainer(), new AllAtOnceSimulator(llm, "fake-instruct"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(Cat(), CancellationToken.None);
        Assert.Equal(NeuronStatus.Failed, result.Status);
        Assert.Null(result.Results);
        Assert.Contains("had no value 0..10 among the top 15 logprobs; at most 10% are accepted", result.Reason);
    }

    [Fact]
    public async Task A_killed_run_resumes_without_repeating_paid_calls()
    {
        var neurons = Enumerable.Range(0, 6).Select(i => Cat(i).Record).ToList();
        store.PutNeuronRecords(neurons);
        var ids = neurons.Select(n => n.NeuronId).ToList();

        using var kill = new CancellationTokenSource();
        using (var llm = Pipeline())
        {
            var runner = new ExplanationRunner(store, store, Flow(llm), concurrency: 1);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                runner.RunAsync(ids, RunStep.ExplainAndScore, p => { if (p.Finished == 3) kill.Cancel(); }, kill.Token));
        }
        int beforeResume = server.Count(FakeOpenAiServer.Chat);
        Assert.Equal(3, store.ListExplanationResults().Count(r => r.Status == NeuronStatus.Done));

        using (var llm = Pipeline())
        {
            var counts = await new ExplanationRunner(store, store, Flow(llm), concurrency: 1).RunAsync(ids, RunStep.ExplainAndScore);
            Assert.Equal((3, 3), (counts.Stored, counts.AlreadyDone));
        }
        Assert.All(store.ListExplanationResults(), r => Assert.Equal(NeuronStatus.Done, r.Status));
        var bodies = server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat).Select(r => r.Body.GetRawText()).ToList();
        Assert.Equal(bodies.Count, bodies.Distinct().Count());
        Assert.True(server.Count(FakeOpenAiServer.Chat) > beforeResume);
        // Every completed paid call is in the ledger once; answers served from the cache are free. The one request
        // in flight when the run was killed (concurrency 1) reached the server but never returned, so it has no entry.
        Assert.InRange(store.ListLedger().Count(e => !e.FromCache), bodies.Count - 1, bodies.Count);

        static ExplanationFlow Flow(LlmPipeline llm) =>
            new(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
    }

    [Fact]
    public async Task Dry_run_counts_explain_and_simulate_calls_and_stores_nothing()
    {
        store.PutNeuronRecords([Cat().Record]);
        using var llm = Pipeline(FakeOpenAiServer.FastRetries with { DryRun = true });
        var flow = new ExplanationFlow(new DryRunExplainer(new LlmExplainer(llm, "fake-chat")), new DryRunSimulator(new ChatSimulator(llm, "fake-chat")),
            new ExplanationFlowOptions());
        var counts = await new ExplanationRunner(store, store, flow, dryRun: true).RunAsync([Cat().Record.NeuronId], RunStep.ExplainAndScore);

        Assert.Equal(1, counts.Estimated);
        Assert.Empty(store.ListExplanationResults());
        Assert.Equal(0, server.Count(FakeOpenAiServer.Chat));
        var record = Cat().Record;
        // One explain call, then one simulation call per calibration and per valid excerpt.
        Assert.Equal(1 + record.CalibrationRecords().Count + record.ValidRecords().Count, llm.Usage.Calls);
    }

    [Fact]
    public async Task The_llm_head_prompt_shows_values_and_attended_pairs_and_the_flow_scores_through_the_fake_server()
    {
        // The fake explains from the pairs it is shown and simulates 10 on " sat" lines.
        server.ChatContent = (request, _) =>
        {
            string last = request.Messages[^1];
            if (!last.Contains("unknown", StringComparison.Ordinal))
                return last.Contains(" sat <-  cat (0.80)\n", StringComparison.Ordinal) ? "the main thing this neuron does is find sat reading back to cat" : "no pairs shown";
            var excerpt = last[(last.IndexOf("<start>\n", StringComparison.Ordinal) + 8)..last.IndexOf("<end>", StringComparison.Ordinal)];
            return string.Join('\n', excerpt.TrimEnd('\n').Split('\n').Select(line => line.StartsWith(" sat\t", StringComparison.Ordinal) ? "10" : "0"));
        };
        using var llm = server.Pipeline(store);
        var flow = new ExplanationFlow(new LlmExplainer(llm, "fake-chat"), new ChatSimulator(llm, "fake-chat"), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Head(), null), CancellationToken.None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        var chosen = result.Results!.ScoredExplanations[result.ChosenIndex!.Value];
        Assert.Equal("sat reading back to cat", chosen.Explanation);
        Assert.True(chosen.ScoredSimulation.EvCorrelationScore > 0.5, $"score {chosen.ScoredSimulation.EvCorrelationScore}");

        var explain = server.Requests.First(r => r.Endpoint == FakeOpenAiServer.Chat && !r.Messages[^1].Contains("unknown", StringComparison.Ordinal));
        Assert.Contains("attention heads", explain.Messages[0]);
        // Our own few-shot head, then the head's excerpts: values, and for active tokens only their pairs.
        Assert.Contains(" Tom <-  Tom (0.71)\n", explain.Messages[1]);
        Assert.Equal("a name or noun that repeats one mentioned earlier, reading back from the earlier mention", explain.Messages[2]);
        Assert.Contains(" sat\t10\n", explain.Messages[^1]);
        Assert.Contains(" sat <-  sat (0.15)\n", explain.Messages[^1]);
        Assert.DoesNotContain(" dog <- ", explain.Messages[^1]);
        Assert.EndsWith(ExplainerPrompts.ExplanationPrefix, explain.Messages[^1]);
    }
}
