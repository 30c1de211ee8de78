using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>
/// Attention heads through explain, simulate and score: the baseline's token-pair explanations (our LLM head prompt is
/// tested against the fake server in <see cref="FakeServerFlowTests"/>).
/// </summary>
public sealed class HeadExplanationTests
{
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
}
