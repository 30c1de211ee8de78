using NeuronExplainer.Cli;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Llm;

public sealed class CheckLlmCommandTests : IAsyncLifetime
{
    private FakeOpenAiServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeOpenAiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void ReportsWhichSimulationMethodsTheServerSupports()
    {
        // A server whose one-token answers carry both yes and no among their top logprobs.
        _server.ChatTokens = (request, content) => request.MaxTokens == 1
            ? [new FakeToken("yes", -0.1, [new("yes", -0.1), new("no", -2.4)])]
            : FakeToken.Split(content);
        var (code, stdout, _) = Run("check-llm", "--base-url", _server.BaseUrl.ToString(), "--model", "fake-chat", "--completion-model", "fake-instruct");

        Assert.Equal(0, code);
        Assert.Contains("key accepted, models listed", stdout);
        Assert.Contains("chat fake-chat: answered", stdout);
        Assert.Contains("chat simulator from digit logprobs works", stdout);
        Assert.Contains("all-at-once simulator from prompt logprobs works", stdout);
        Assert.Contains("chat (yes/no) fake-chat: answered", stdout);
        Assert.Contains("-> detection and fuzzing get AUC from yes/no logprobs", stdout);
        Assert.Equal([FakeOpenAiServer.ModelList, FakeOpenAiServer.Chat, FakeOpenAiServer.Chat, FakeOpenAiServer.Completions], _server.Requests.Select(r => r.Endpoint));
    }

    [Fact]
    public void SaysSoWhenTheServerGivesNoLogprobsOrFails()
    {
        _server.Enqueue(FakeOpenAiServer.Chat, FakeReply.NoLogprobs);
        _server.Enqueue(FakeOpenAiServer.Completions, FakeReply.Error(404));

        var (code, stdout, _) = Run("check-llm", "--base-url", _server.BaseUrl.ToString(), "--model", "fake-chat", "--completion-model", "fake-instruct");

        Assert.Equal(CliApp.Failure, code);
        Assert.Contains("logprobs: NO -> chat simulation only by sampled values", stdout);
        // The fake's usual tokens have no yes/no alternatives.
        Assert.Contains("-> detection and fuzzing get balanced accuracy only (no AUC)", stdout);
        Assert.Contains("completions (echo) fake-instruct: FAILED", stdout);
        Assert.Contains("HTTP 404", stdout);
    }

    [Fact]
    public void AnUnknownModelIsOneErrorLine()
    {
        var (code, _, stderr) = Run("check-llm", "--base-url", _server.BaseUrl.ToString(), "--model", "gpt-9");

        Assert.Equal(CliApp.Failure, code);
        Assert.StartsWith("error: the LLM server", stderr);
        Assert.Contains("does not serve model 'gpt-9'", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void BadOptionsAreOneClearError()
    {
        Assert.Equal((CliApp.Failure, "error: --base-url 'ftp://example.com/v1' is not an http(s) URL; expected one such as http://localhost:8000/v1"),
            Error(Run("check-llm", "--model", "m", "--base-url", "ftp://example.com/v1")));
        Assert.Equal((CliApp.Failure, "error: --api-key-env is ' '; expected the name of an environment variable, such as OPENAI_API_KEY"),
            Error(Run("check-llm", "--model", "m", "--api-key-env", " ")));
        Assert.Equal((CliApp.Failure, "error: --timeout must be at least 1 second, got 0"), Error(Run("check-llm", "--model", "m", "--timeout", "0")));
        Assert.Equal(CliApp.UsageError, Run("check-llm", "--model", "m", "--timeout", "x").Code);
    }

    private static (int, string) Error((int Code, string Out, string Err) result) => (result.Code, result.Err.Trim());

    [Fact]
    public void NeedsAModel()
    {
        var (code, _, stderr) = Run("check-llm", "--base-url", _server.BaseUrl.ToString());

        Assert.Equal(CliApp.UsageError, code);
        Assert.Contains("needs --model and/or --completion-model", stderr);
        Assert.Empty(_server.Requests);
    }
}
