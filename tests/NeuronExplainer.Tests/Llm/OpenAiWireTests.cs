using System.Text;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

public sealed class OpenAiWireTests
{
    [Fact]
    public void RequestBodiesUseTheApiFieldNames()
    {
        var chat = new ChatRequest("gpt-4o-mini", [ChatMessage.User("hi")], MaxTokens: 10, Temperature: 0, N: 3, TopLogprobs: 5);
        Assert.Equal("""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"temperature":0,"n":3,"logprobs":true,"top_logprobs":5}""",
            Encoding.UTF8.GetString(OpenAiWire.ChatBody(chat)));

        var completion = new CompletionRequest("m", "a\tb", MaxTokens: 0, Echo: true, Logprobs: 5, Temperature: 0);
        Assert.Equal("""{"model":"m","prompt":"a\tb","max_tokens":0,"temperature":0,"echo":true,"logprobs":5}""",
            Encoding.UTF8.GetString(OpenAiWire.CompletionBody(completion)));
    }

    [Fact]
    public async Task ADroppedConnectionOnTheChatPathIsARetryableServerFailure()
    {
        var endpoint = new LlmEndpoint(new Uri("http://127.0.0.1:9/v1"));
        using var backend = new OpenAiCompatibleBackend(endpoint, null, new DroppingHandler());
        var e = await Assert.ThrowsAsync<LlmServerException>(() =>
            backend.ChatAsync(new ChatRequest("m", [ChatMessage.User("hi")], MaxTokens: 1, Temperature: 0), LlmCallContext.Explain(new(0, 1))));
        Assert.True(e.Transient);
        Assert.Contains("network error", e.Message);
    }

    sealed class DroppingHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new HttpRequestException("the server closed the connection before answering");
    }

    [Fact]
    public void ReadsAChatAnswerWithTheFieldsRealServersAdd()
    {
        var response = OpenAiWire.ParseChat("""
            {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp",
             "choices":[{"index":0,"message":{"role":"assistant","content":"7","refusal":null,"annotations":[]},
               "logprobs":{"content":[{"token":"7","logprob":-0.01,"bytes":[55],
                 "top_logprobs":[{"token":"6","logprob":-5.2,"bytes":[54]},{"token":"7","logprob":-0.01,"bytes":[55]}]}],"refusal":null},
               "finish_reason":"stop"}],
             "usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":0}}}
            """u8.ToArray());

        var choice = Assert.Single(response.Choices);
        Assert.Equal("7", choice.Content);
        Assert.Equal("stop", choice.FinishReason);
        var token = Assert.Single(choice.Logprobs!);
        Assert.Equal([new TopLogprob("7", -0.01), new TopLogprob("6", -5.2)], token.TopLogprobs);
        Assert.Equal(new TokenUsage(12, 1), response.Usage);
    }

    [Fact]
    public void Alternatives_come_most_likely_first_and_equal_ones_in_the_servers_order_in_both_shapes()
    {
        var chat = OpenAiWire.ParseChat("""
            {"choices":[{"index":0,"message":{"role":"assistant","content":"a"},"logprobs":{"content":[{"token":"a","logprob":-1,
              "top_logprobs":[{"token":"x","logprob":-2},{"token":"a","logprob":-1},{"token":"y","logprob":-2},{"token":"z","logprob":-0.5}]}]}}]}
            """u8.ToArray());
        Assert.Equal(["z", "a", "x", "y"], chat.Choices[0].Logprobs![0].TopLogprobs.Select(t => t.Token));
        var echo = OpenAiWire.ParseCompletion("""
            {"choices":[{"index":0,"text":"ab","logprobs":{"tokens":["a","b"],"token_logprobs":[null,-1],
              "top_logprobs":[null,{"x":-2,"b":-1,"y":-2,"z":-0.5}],"text_offset":[0,1]}}]}
            """u8.ToArray());
        var tokens = echo.Choices[0].Logprobs!;
        Assert.Equal([(0, (double?)null, 0), (1, -1, 4)], tokens.Select(t => (t.TextOffset!.Value, t.Logprob, t.TopLogprobs.Count)));
        Assert.Equal(["z", "b", "x", "y"], tokens[1].TopLogprobs.Select(t => t.Token));
    }

    [Fact]
    public void Reads_cached_prompt_tokens_and_a_refusal()
    {
        var response = OpenAiWire.ParseChat("""
            {"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":2048,"completion_tokens":9,"total_tokens":2057,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0}}}
            """u8.ToArray());
        Assert.Equal(1920, response.Usage!.CachedPromptTokens);
        Assert.Equal(2048, response.Usage.PromptTokens);
        Assert.Equal("I can't help with that.", response.Choices[0].Refusal);
        Assert.Equal("", response.Choices[0].Content);
    }

    [Fact]
    public void ReadsALegacyEchoAnswerAsVllmSendsIt()
    {
        var response = OpenAiWire.ParseCompletion("""
            {"id":"cmpl-1","object":"text_completion","created":1,"model":"m",
             "choices":[{"index":0,"text":"dog\t3","logprobs":{"text_offset":[0,3,4],"token_logprobs":[null,-0.2,-1.5],
               "tokens":["dog","\t","3"],"top_logprobs":[null,{"\t":-0.2},{"0":-0.9,"3":-1.5,"10":-2.0}]},
               "finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],
             "usage":{"prompt_tokens":3,"total_tokens":3,"completion_tokens":0}}
            """u8.ToArray());

        var tokens = response.Choices.Single().Logprobs!;
        Assert.Equal(["dog", "\t", "3"], tokens.Select(t => t.Token));
        Assert.Equal([null, -0.2, -1.5], tokens.Select(t => t.Logprob));
        Assert.Equal(["0", "3", "10"], tokens[2].TopLogprobs.Select(t => t.Token));
        Assert.Equal([0, 3, 4], tokens.Select(t => t.TextOffset!.Value));
        Assert.Equal(new TokenUsage(3, 0), response.Usage);
    }

    [Fact]
    public void AnswersWithoutUsageOrLogprobsSayTheyHaveNone()
    {
        var response = OpenAiWire.ParseChat("""{"choices":[{"message":{"role":"assistant","content":null}}]}"""u8.ToArray());
        Assert.Null(response.Usage);
        Assert.Equal(new ChatChoice(0, "", null, null), response.Choices.Single());
    }

    [Theory]
    [InlineData("""{"choices":[{"message":{"content":"x"}""", "not valid JSON")]
    [InlineData("""{"object":"error"}""", "no 'choices'")]
    [InlineData("""{"choices":[{"text":"x","logprobs":{"tokens":["a","b"],"token_logprobs":[-1]}}]}""", "logprobs.token_logprobs has 1 entries for 2 tokens")]
    [InlineData("""{"choices":[{"text":"x","logprobs":{"tokens":["a"],"token_logprobs":["high"]}}]}""", "unexpected shape")]
    [InlineData("""{"choices":[{"text":"x","logprobs":{"tokens":["a"],"top_logprobs":[{"a":"high"}]}}]}""", "unexpected shape")]
    public void BrokenBodiesAreTransientErrorsSayingWhatIsWrong(string json, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var e = Assert.Throws<LlmServerException>(() => bytes[0] == (byte)'{' && json.Contains("\"text\"")
            ? (object)OpenAiWire.ParseCompletion(bytes)
            : OpenAiWire.ParseChat(bytes));
        Assert.True(e.Transient);
        Assert.Contains(expected, e.Message);
    }
}
