using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>Attention heads through explain, simulate and score: the baseline's token-pair explanations and our LLM head prompt.</summary>
public sealed class HeadExplanationTests : IAsyncLifetime, IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-heads-" + Guid.NewGuid().ToString("N"));
    FakeOpenAiServer server = null!;
    SqliteNeuronStore store = null!;

    public async Task InitializeAsync()
    {
        server = await FakeOpenAiServer.StartAsync();
        store = SqliteNeuronStore.Open(directory);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task The_baseline_explains_a_head_by_its_most_frequent_attended_pair_and_scores_it_well()
    {
        var input = new ExplainerInput(SyntheticNeurons.Head(), null);
        var attempts = await new BaselineExplainer().ExplainAsync(input, 2, CancellationToken.None);
        string text = attempts[0].Text!;
        Assert.StartsWith("attends from \"sat\" to \"cat\" (10.0)", text);
        var parsed = BaselineHeadExplanation.TryParse(text)!;
        Assert.Equal(text, parsed.ToString());
        // " sat" is predicted only where a " cat" came before it.
        Assert.Equal([0, 0, 10, 0], parsed.Predict([" sat", " cat", " sat", " dog"]));

        var flow = new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions());
        var result = await flow.ExplainAndScoreAsync(input, CancellationToken.None);
        Assert.Equal(NeuronStatus.Done, result.Status);
        Assert.True(result.Results!.ScoredExplanations[result.ChosenIndex!.Value].ScoredSimulation.EvCorrelationScore > 0.9);

        // The offline judge reads head explanations too.
        var judged = await new BaselineJudge().JudgeAsync(input.Neuron, text, JudgeTask.Detection,
            [new JudgedExcerpt([" cat", " sat"], [], true), new JudgedExcerpt([" sat", " cat"], [], false)], CancellationToken.None);
        Assert.Equal([true, false], judged.Answers!.Select(a => a.Yes));
    }

    [Fact]
    public void Head_explanations_keep_odd_tokens_exact_and_other_texts_are_not_read_as_them()
    {
        var explanation = new BaselineHeadExplanation([("\"q\\", " <- ", 3.5), ("\n", ", from", 1.0)]);
        Assert.Equal(explanation.Pairs, BaselineHeadExplanation.TryParse(explanation.ToString())!.Pairs);
        Assert.Null(BaselineHeadExplanation.TryParse("tokens \"cat\" (9.0)"));
        Assert.Null(BaselineHeadExplanation.TryParse("attends from \"a\" to \"b\""));
        Assert.IsType<BaselineHeadExplanation>(BaselineExplanation.ParseAny(explanation.ToString()));
        Assert.IsType<BaselineExplanation>(BaselineExplanation.ParseAny("tokens \"cat\" (9.0)"));
    }

    [Fact]
    public async Task A_head_record_without_attended_tokens_is_explained_from_its_values_as_a_neurons()
    {
        var record = SyntheticNeurons.Cat() with { NeuronId = NeuronId.Head(0, 0) };
        var baseline = Assert.Single(await new BaselineExplainer().ExplainAsync(new ExplainerInput(record, null), 1, CancellationToken.None));
        Assert.StartsWith("tokens \"cat\"", baseline.Text);
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply("x"));
        await new LlmExplainer(client, "m").ExplainAsync(new ExplainerInput(record, null), 1, CancellationToken.None);
        Assert.DoesNotContain("attention heads", client.ChatRequests[0].Messages[0].Content);
        Assert.Contains(" cat\t10\n", client.ChatRequests[0].Messages[^1].Content);
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
