using FsCheck;
using FsCheck.Fluent;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

public sealed class TokenEstimatorTests
{
    [Fact]
    public void TheEstimateNeverExceedsTheByteBoundAndIsPositiveForText() =>
        Prop.ForAll(ArbMap.Default.ArbFor<NonEmptyString>(), text =>
        {
            int estimate = TokenEstimator.Estimate(text.Get);
            return estimate <= TokenEstimator.UpperBound(text.Get) && (string.IsNullOrEmpty(text.Get) || estimate > 0);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("", 0)]
    [InlineData("Once upon a time, there was a little girl.", 11)]
    [InlineData("dog\t7\ncat\t0\n", 8)]
    [InlineData("internationalization", 4)]
    public void CountsPiecesLikeAGptPreTokenizer(string text, int expected) =>
        Assert.Equal(expected, TokenEstimator.Estimate(text));

    [Fact]
    public void ChatPromptsCountTheirMessageOverhead()
    {
        var request = new ChatRequest("m", [ChatMessage.System("a b"), ChatMessage.User("c")], MaxTokens: 1);
        Assert.Equal(2 + 1 + 2 * 4 + 3, TokenEstimator.EstimatePrompt(request));
        Assert.True(TokenEstimator.PromptUpperBound(request) >= TokenEstimator.EstimatePrompt(request));
    }
}
