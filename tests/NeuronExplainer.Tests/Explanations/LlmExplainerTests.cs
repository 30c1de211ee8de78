using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Explanations;

public class LlmExplainerTests
{
    [Fact]
    public async Task Samples_come_from_one_request_and_replies_are_cleaned()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply(
            " cats and kittens.", "The main thing this neuron does is find \"the word cat\"\nmore text", "", new string('a', 700)));
        var attempts = await new LlmExplainer(client, "m").ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), 4, CancellationToken.None);

        Assert.Equal(["cats and kittens", "the word cat", null, null], attempts.Select(a => a.Text));
        Assert.Contains("empty", attempts[2].Rejection);
        Assert.Contains("700 characters", attempts[3].Rejection);
        var request = Assert.Single(client.ChatRequests);
        Assert.Equal(4, request.N);
        // Few-shot turns first, then the neuron's train excerpts with 0..10 values ending in the explanation prefix.
        Assert.Equal("the family name right after a title like Mr or Mrs", request.Messages[^2].Content);
        Assert.Contains(" cat\t10\n", request.Messages[^1].Content);
        Assert.EndsWith(ExplainerPrompts.ExplanationPrefix, request.Messages[^1].Content);
    }

    [Fact]
    public async Task Sparse_excerpts_repeat_their_non_zero_tokens_in_the_prompt()
    {
        var record = SyntheticNeurons.Make(new NeuronId(0, 0), (t, i) => i == 3 ? 4 : 0);
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply("x"));
        await new LlmExplainer(client, "m").ExplainAsync(new ExplainerInput(record, null), 1, CancellationToken.None);
        Assert.Contains("The non-zero lines of that excerpt again:\n<start>\n", client.ChatRequests[0].Messages[^1].Content);
    }

    [Fact]
    public async Task A_cut_off_reply_or_failed_call_is_a_rejected_attempt_with_its_reason()
    {
        var cut = new ScriptedLlmClient(chat: _ => new ChatResponse([new ChatChoice(0, "cats and", null, "length")], null));
        var attempt = Assert.Single(await new LlmExplainer(cut, "m").ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), 1, CancellationToken.None));
        Assert.Contains("cut off", attempt.Rejection);

        var failing = new ScriptedLlmClient(chat: _ => throw new LlmCallFailedException("server answered 401"));
        var attempts = await new LlmExplainer(failing, "m").ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), 2, CancellationToken.None);
        Assert.All(attempts, a => Assert.Equal("server answered 401", a.Rejection));
    }

    [Fact]
    public async Task The_lookup_table_explainer_shows_the_top_tokens_and_needs_a_table()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply("cats"));
        var explainer = new LlmExplainer(client, "m", ExplainerStyle.TokenLookupTable);
        var missing = await explainer.ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), 1, CancellationToken.None);
        Assert.Contains("token table", missing[0].Rejection);
        Assert.Empty(client.ChatRequests);

        var table = new TokenLookupTableSummaryOfNeuron([" cat", "\t"], [2.0, 1.0]);
        var attempts = await explainer.ExplainAsync(new ExplainerInput(SyntheticNeurons.Cat(), table), 1, CancellationToken.None);
        Assert.Equal("cats", attempts[0].Text);
        Assert.Contains(" cat\t10\n\\t\t5\n", client.ChatRequests[0].Messages[^1].Content);
    }

    [Fact]
    public async Task Revision_shows_real_and_simulated_values_of_the_counterexamples()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply("cats and dogs"));
        var record = new ActivationRecord([" a", " dog"], [0, 5]);
        var simulation = new SequenceSimulation([" a", " dog"], [0, 0.2], ActivationScale.SimulatedNormalizedActivations, [[0], [0.2]], [[1], [1]]);
        var revised = await new LlmExplainer(client, "m").ReviseAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), "cats",
            [new Counterexample(record, simulation)], CancellationToken.None);

        Assert.Equal("cats and dogs", revised.Text);
        string prompt = client.ChatRequests[0].Messages[^1].Content;
        Assert.Contains("find cats\n", prompt);
        Assert.Contains("Real activations:\n<start>\n a\t0\n dog\t10\n<end>", prompt);
        Assert.Contains("predicted from the explanation:\n<start>\n a\t0\n dog\t0\n<end>", prompt);
    }
}
