using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Explanations;

public class BaselineTests
{
    [Fact]
    public void Explanation_text_reads_back_exactly_even_with_hostile_tokens()
    {
        var tokens = PromptFormatTests.HostileTokens.Concat(["\"", "\", \"x\" (3.0)", "; right after ", ") (", "a, b"])
            .Select((t, i) => (t, (double)i % 10)).ToList();
        var explanation = new BaselineExplanation(tokens, [("named", 6.5), ("\"", 1.0)]);
        var parsed = BaselineExplanation.TryParse(explanation.ToString());
        Assert.NotNull(parsed);
        Assert.Equal(explanation.Tokens, parsed.Tokens);
        Assert.Equal(explanation.After, parsed.After);
    }

    [Theory]
    [InlineData("")]
    [InlineData("the main thing this neuron does is find cats")]
    [InlineData("tokens \"cat\" (5.0")]
    [InlineData("tokens \"cat\" (5.0), ")]
    [InlineData("tokens \"cat\" (NaN)")]
    [InlineData("tokens \"cat\" (5.0) and more")]
    public void Other_text_is_not_read_as_a_baseline_explanation(string text) => Assert.Null(BaselineExplanation.TryParse(text));

    [Fact]
    public async Task Explainer_names_the_firing_token_and_the_context_cue()
    {
        var input = new ExplainerInput(SyntheticNeurons.Cat(), null);
        var attempts = await new BaselineExplainer().ExplainAsync(input, 1, CancellationToken.None);
        var parsed = BaselineExplanation.TryParse(Assert.Single(attempts).Text!)!;
        Assert.Equal("cat", parsed.Tokens[0].Token);
        Assert.Equal(10, parsed.Tokens[0].Weight);
        Assert.Contains(parsed.After, e => e.Token == "named" && e.Weight is > 4 and < 8);
    }

    [Fact]
    public async Task Simulator_predicts_from_the_explanation_and_refuses_other_text()
    {
        var simulator = new BaselineSimulator();
        var outcome = await simulator.SimulateAsync(new NeuronId(0, 0), "tokens \"cat\" (8.0); right after \"named\" (4.0)",
            [[" The", " Cat", " named", " Bob"]], CancellationToken.None);
        Assert.Equal([0, 8, 0, 4], Assert.Single(outcome.Simulations!).ExpectedActivations);

        var refused = await simulator.SimulateAsync(new NeuronId(0, 0), "cats", [[" cat"]], CancellationToken.None);
        Assert.False(refused.Succeeded);
        Assert.Contains("baseline", refused.Failure);
    }

    [Fact]
    public async Task Samples_name_different_numbers_of_tokens()
    {
        var input = new ExplainerInput(SyntheticNeurons.Make(new NeuronId(0, 0), (t, i) => Array.IndexOf(SyntheticNeurons.Words, t[i]) + 1), null);
        var attempts = await new BaselineExplainer().ExplainAsync(input, 2, CancellationToken.None);
        Assert.Equal(2, attempts.Count);
        Assert.NotEqual(attempts[0].Text, attempts[1].Text);
    }
}
