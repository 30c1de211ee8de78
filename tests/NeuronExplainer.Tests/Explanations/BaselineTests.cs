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

    [Fact]
    public void Prediction_matches_tokens_by_their_key_whatever_their_case_spacing_script_or_length()
    {
        string longWord = new('Q', 300);
        var explanation = new BaselineExplanation(
            [("lily", 9.0), ("\u00e9t\u00e9", 4.0), (BaselineExplanation.Key(longWord), 2.0), ("  ", 1.5)],
            [("named", 3.0), ("\u00e9t\u00e9", 0.5)]);
        string[] tokens = [" Lily", "LILY ", "\u00c9T\u00c9", " named", " Lily", longWord, "  ", "\t", "lilies", "named", "x"];
        double[] expected = [9, 9, 4, 0.5, 10, 2, 1.5, 0, 0, 0, 3];
        Assert.Equal(expected, explanation.Predict(tokens));
        // Each token as the explanation's keys see it, one by one, gives the same.
        Assert.Equal(expected, explanation.Predict([.. tokens.Select(BaselineExplanation.Key)]));
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
