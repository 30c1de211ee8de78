using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Explanations;

public class LlmSimulatorTests
{
    static readonly NeuronId Neuron = new(2, 7);
    static readonly IReadOnlyList<string> Tokens = [" The", " cat", "\t<end>\n"];

    [Fact]
    public async Task Chat_simulation_takes_expected_values_from_digit_top_logprobs()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.ValuesWithLogprobs(
        [
            (0, [("0", 0.9), ("1", 0.1)]),
            (8, [("8", 0.5), ("10", 0.25), (" unknown", 0.1), ("6", 0.15)]),
            (0, [("0", 1.0)]),
        ]));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);

        var simulation = Assert.Single(outcome.Simulations!);
        Assert.Equal(SimulationMethods.ChatLogprobs, simulation.Method);
        Assert.Equal(0.1, simulation.ExpectedActivations[0], 9);
        // " unknown" is not a value: renormalised over 0..10 only.
        Assert.Equal((8 * 0.5 + 10 * 0.25 + 6 * 0.15) / 0.9, simulation.ExpectedActivations[1], 9);
        Assert.Equal(0, simulation.ExpectedActivations[2], 9);
        Assert.Equal(11, simulation.DistributionValues[1].Count);
        Assert.Equal(1.0, simulation.DistributionProbabilities[1].Sum(), 9);
        var request = Assert.Single(client.ChatRequests);
        Assert.NotNull(request.TopLogprobs);
        Assert.Contains("\\t\\<end\\>\\n\tunknown\n", request.Messages[^1].Content);
    }

    [Fact]
    public async Task A_ten_split_into_two_digit_tokens_divides_the_mass_of_one()
    {
        var tokens = new List<TokenLogprob>
        {
            new("1", Math.Log(0.6), [new("1", Math.Log(0.6)), new("0", Math.Log(0.4))]),
            new("0", Math.Log(0.75), [new("0", Math.Log(0.75)), new("\n", Math.Log(0.25))]),
        };
        var client = new ScriptedLlmClient(chat: _ => new ChatResponse([new ChatChoice(0, "10", tokens, "stop")], null));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "x", [[" a"]], CancellationToken.None);
        // P(10) = 0.6 * 0.75, P(1) = 0.6 * 0.25, P(0) = 0.4.
        Assert.Equal(10 * 0.45 + 1 * 0.15, Assert.Single(outcome.Simulations!).ExpectedActivations[0], 9);
    }

    [Theory]
    [InlineData("0\n5", "the reply has 2 value lines for 3 tokens")]
    [InlineData("0\n5\n1\n2", "the reply has 4 value lines for 3 tokens")]
    [InlineData("0\nhigh\n1", "line 2 of the reply is 'high', not a whole number from 0 to 10")]
    [InlineData("0\n11\n1", "line 2 of the reply is '11'")]
    public async Task Unusable_replies_are_retried_then_the_simulation_fails_with_the_reason(string reply, string reason)
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply(reply));
        var outcome = await new ChatSimulator(client, "m", maxAttempts: 3).SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);

        Assert.False(outcome.Succeeded);
        Assert.Null(outcome.Simulations);
        Assert.Contains("after 3 attempts", outcome.Failure);
        Assert.Contains(reason, outcome.Failure);
        Assert.Equal(3, client.ChatRequests.Count);
    }

    [Fact]
    public async Task A_retry_that_succeeds_is_used()
    {
        int calls = 0;
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply(calls++ == 0 ? "1\n2" : "1\n2\n3"));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);
        Assert.Equal([1, 2, 3], Assert.Single(outcome.Simulations!).ExpectedActivations);
    }

    [Fact]
    public async Task Without_logprobs_the_sampled_values_are_used_and_flagged()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply(" 0\n7 \n\n10\n"));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);
        var simulation = Assert.Single(outcome.Simulations!);
        Assert.Equal(SimulationMethods.Sampled, simulation.Method);
        Assert.Equal([0, 7, 10], simulation.ExpectedActivations);
    }

    [Fact]
    public async Task Lines_that_repeat_the_token_take_the_value_after_the_last_tab()
    {
        var client = new ScriptedLlmClient(chat: _ => ScriptedLlmClient.Reply(" The\t0\n cat\t9\r\n\\t\\<end\\>\\n\t1"));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);
        Assert.Equal([0, 9, 1], Assert.Single(outcome.Simulations!).ExpectedActivations);
    }

    [Fact]
    public async Task A_failed_call_fails_the_simulation_with_the_servers_reason()
    {
        var client = new ScriptedLlmClient(chat: _ => throw new LlmCallFailedException("http://127.0.0.1:1/v1 answered 500 five times"));
        var outcome = await new ChatSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens, Tokens], CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Contains("answered 500", outcome.Failure);
    }

    [Fact]
    public async Task All_at_once_reads_the_top_logprobs_at_each_value_slot_of_the_echoed_prompt()
    {
        var client = new ScriptedLlmClient(complete: request => EchoWithValues(request.Prompt, slot => slot switch
        {
            0 => [("0", 0.8), (" unknown", 0.2)],
            1 => [("unknown", 0.5), ("9", 0.25), ("10", 0.25)],
            _ => [("2", 0.5), ("4", 0.5)],
        }));
        var outcome = await new AllAtOnceSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);

        var simulation = Assert.Single(outcome.Simulations!);
        Assert.Equal(SimulationMethods.PromptLogprobs, simulation.Method);
        Assert.Equal([0, 9.5, 3], simulation.ExpectedActivations.Select(v => Math.Round(v, 9)));
        var request = Assert.Single(client.CompletionRequests);
        Assert.True(request.Echo);
        Assert.Equal(0, request.MaxTokens);
    }

    [Fact]
    public async Task All_at_once_fails_with_a_reason_when_logprobs_are_missing()
    {
        var client = new ScriptedLlmClient(complete: r => new CompletionResponse([new CompletionChoice(0, r.Prompt, null, "length")], null));
        var outcome = await new AllAtOnceSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Contains("no prompt logprobs", outcome.Failure);
    }

    [Fact]
    public async Task A_slot_without_a_value_alternative_is_flagged_and_scored_zero_instead_of_failing_the_simulation()
    {
        var client = new ScriptedLlmClient(complete: r => EchoWithValues(r.Prompt, slot => slot == 1 ? [("unknown", 0.7), (" the", 0.3)] : [("6", 1.0)]));
        var outcome = await new AllAtOnceSimulator(client, "m", maxNoValueShare: 0.5).SimulateAsync(Neuron, "cats", [Tokens], CancellationToken.None);

        var simulation = Assert.Single(outcome.Simulations!);
        Assert.Equal([6, 0, 6], simulation.ExpectedActivations.Select(v => Math.Round(v, 9)));
        Assert.Empty(simulation.DistributionValues[1]);
        Assert.Empty(simulation.DistributionProbabilities[1]);
        Assert.Equal(11, simulation.DistributionValues[0].Count);
        Assert.Equal(1, simulation.NoValueSlots);
    }

    [Fact]
    public async Task All_at_once_fails_only_above_the_allowed_share_of_slots_without_a_value()
    {
        // One of 3 slots in each of 4 excerpts is empty: 4 of 12 = 33%.
        var client = new ScriptedLlmClient(complete: r => EchoWithValues(r.Prompt, slot => slot == 2 ? [("unknown", 1.0)] : [("1", 1.0)]));
        var outcome = await new AllAtOnceSimulator(client, "m").SimulateAsync(Neuron, "cats", [Tokens, Tokens, Tokens, Tokens], CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Contains("4 of 12 value slots (33.3%) had no value 0..10 among the top 15 logprobs; at most 10% are accepted", outcome.Failure);

        var lenient = await new AllAtOnceSimulator(client, "m", maxNoValueShare: 0.34).SimulateAsync(Neuron, "cats", [Tokens, Tokens, Tokens, Tokens], CancellationToken.None);
        Assert.Equal(4, lenient.Simulations!.Sum(s => s.NoValueSlots));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AllAtOnceSimulator(client, "m", maxNoValueShare: 1.5));
    }

    [Fact]
    public void All_at_once_few_shot_examples_show_every_excerpt_with_unknown_up_to_a_reveal_point_then_values()
    {
        var (prompt, offsets) = SimulatorPrompts.AllAtOnce("cats", Tokens);
        foreach (var example in FewShotExamples.All)
            foreach (var excerpt in example.Excerpts)
            {
                var lines = excerpt.Tokens.Select((t, i) => PromptFormat.EscapeToken(t) + "\t"
                    + (i < excerpt.RevealFrom ? SimulatorPrompts.Unknown : excerpt.Values[i].ToString(System.Globalization.CultureInfo.InvariantCulture)));
                Assert.Contains("<start>\n" + string.Join('\n', lines) + "\n<end>\n", prompt);
                Assert.InRange(excerpt.RevealFrom, 1, excerpt.Tokens.Count - 1);
            }
        // The neuron asked about reads "unknown" everywhere, and its slots come after every example.
        Assert.All(offsets, o => Assert.StartsWith("unknown\n", prompt[o..]));
        Assert.True(offsets[0] > prompt.LastIndexOf("Neuron ", StringComparison.Ordinal));
    }

    [Fact]
    public void Chat_few_shot_examples_show_every_excerpt_asked_and_answered_as_the_real_excerpt_is()
    {
        var messages = SimulatorPrompts.Chat("cats", Tokens);
        var pairs = messages.Skip(1).SkipLast(1).Chunk(2).ToList();
        var excerpts = FewShotExamples.All.SelectMany(e => e.Excerpts.Select(x => (e.Explanation, Excerpt: x))).ToList();
        Assert.Equal(excerpts.Count, pairs.Count);
        for (int i = 0; i < excerpts.Count; i++)
        {
            var (explanation, excerpt) = excerpts[i];
            Assert.Equal(["user", "assistant"], pairs[i].Select(m => m.Role));
            // The question has the real one's form, with the example's explanation and tokens in its place.
            Assert.Equal(SimulatorPrompts.Chat(explanation, excerpt.Tokens)[^1].Content, pairs[i][0].Content);
            // The answer is what the simulator reads back as a reply: exactly the example's values.
            var (simulation, problem) = ChatSimulator.Read(excerpt.Tokens, new ChatChoice(0, pairs[i][1].Content, null, "stop"));
            Assert.Null(problem);
            Assert.Equal(excerpt.Values.Select(v => (double)v), simulation!.ExpectedActivations);
        }
        Assert.Equal("user", messages[^1].Role);
        Assert.Contains(" cat\tunknown\n", messages[^1].Content);
    }

    /// <summary>
    /// Echoes a prompt as a server would: tokens cut at every "unknown" slot (the slot is one token), other text
    /// in 7-character pieces, offsets from the server, and the given alternatives at slot tokens.
    /// </summary>
    internal static CompletionResponse EchoWithValues(string prompt, Func<int, IReadOnlyList<(string Token, double P)>> slot)
    {
        var tokens = new List<TokenLogprob>();
        int position = 0, slots = 0, cut = prompt.IndexOf("<start>\n", prompt.LastIndexOf("Neuron ", StringComparison.Ordinal), StringComparison.Ordinal);
        while (position < prompt.Length)
        {
            int next = prompt.IndexOf("\tunknown\n", position, StringComparison.Ordinal);
            bool atSlot = position > cut && prompt.AsSpan(position).StartsWith("unknown") && prompt[position - 1] == '\t';
            if (atSlot)
            {
                var alternatives = slot(slots++).Select(a => new TopLogprob(a.Token, Math.Log(a.P))).ToList();
                tokens.Add(new TokenLogprob("unknown", Math.Log(0.1), alternatives, position));
                position += "unknown".Length;
                continue;
            }
            int end = Math.Min(prompt.Length, position + 7);
            if (next >= 0 && next + 1 > position && next + 1 < end) end = next + 1;
            tokens.Add(new TokenLogprob(prompt[position..end], tokens.Count == 0 ? null : -1, [new TopLogprob("x", -1)], position));
            position = end;
        }
        return new CompletionResponse([new CompletionChoice(0, prompt, tokens, "length")], new TokenUsage(tokens.Count, 0));
    }
}
