using System.CommandLine;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>check-llm</c>: is the server reachable with this key, does it serve the models, and which
/// simulation methods will work (chat logprobs, echoed prompt logprobs)? One tiny call per method.
/// </summary>
public static class CheckLlmCommand
{
    public static Command Create()
    {
        var baseUrl = new Option<string>("--base-url")
        {
            Description = "OpenAI-compatible API root with its version path (vLLM: http://localhost:8000/v1, Ollama: http://localhost:11434/v1)",
            DefaultValueFactory = _ => LlmEndpoint.OpenAiBaseUrl.ToString(),
        };
        var apiKeyEnv = new Option<string>("--api-key-env")
        {
            Description = "Environment variable holding the API key (servers on localhost may need none)",
            DefaultValueFactory = _ => LlmEndpoint.DefaultApiKeyEnv,
        };
        var chatModel = new Option<string?>("--model") { Description = "Chat model to try (a chat call with top logprobs)" };
        var completionModel = new Option<string?>("--completion-model") { Description = "Completions model to try (an echoed prompt with logprobs, as vLLM serves)" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for each test call", DefaultValueFactory = _ => 60 };
        var command = new Command("check-llm", """
            Check an OpenAI-compatible server before a run: is it reachable, is the API key accepted, does it serve
            the models, and which simulation methods work (a chat model's digit logprobs; a completions model's
            echoed prompt logprobs for the paper's all-at-once method). Sends one tiny call per model.

            Examples:
              neuron-explainer check-llm --model gpt-4o-mini
              neuron-explainer check-llm --base-url http://localhost:8000/v1 --completion-model meta-llama/Llama-3.1-8B
              neuron-explainer check-llm --base-url http://localhost:11434/v1 --model llama3.1
            """);
        foreach (var option in new Option[] { chatModel, completionModel, baseUrl, apiKeyEnv, timeout }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetValue(chatModel) is null && result.GetValue(completionModel) is null)
                result.AddError("check-llm needs --model and/or --completion-model");
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var endpoint = LlmEndpoint.Parse(parse.GetValue(baseUrl)!, parse.GetValue(apiKeyEnv)!);
            int seconds = parse.GetValue(timeout);
            if (seconds < 1) throw new NeuronExplainerException($"--timeout must be at least 1 second, got {seconds}");
            var probes = await LlmServerCheck.RunAsync(endpoint, parse.GetValue(chatModel), parse.GetValue(completionModel),
                TimeSpan.FromSeconds(seconds), cancellationToken);
            output.WriteLine($"server {endpoint.BaseUrl}: reachable, key accepted, models listed");
            foreach (var probe in probes)
                output.WriteLine(probe.Answered
                    ? $"{probe.Method} {probe.Model}: answered in {probe.Latency.TotalSeconds:0.00} s with {Quote(probe.Detail)}; "
                      + (probe.Logprobs == true ? "logprobs with top alternatives: yes" : "logprobs: NO")
                      + $" -> {Verdict(probe)}"
                    : $"{probe.Method} {probe.Model}: FAILED after {probe.Latency.TotalSeconds:0.00} s: {probe.Detail}");
            return probes.All(p => p.Answered) ? 0 : CliApp.Failure;
        });
        return command;
    }

    private static string Verdict(LlmProbe probe) => (probe.Method, probe.Logprobs) switch
    {
        (LlmServerCheck.YesNoMethod, true) => "detection and fuzzing get AUC from yes/no logprobs",
        (LlmServerCheck.YesNoMethod, _) => "detection and fuzzing get balanced accuracy only (no AUC)",
        ("chat", true) => "chat simulator from digit logprobs works",
        ("chat", _) => "chat simulation only by sampled values",
        (_, true) => "all-at-once simulator from prompt logprobs works",
        _ => "all-at-once simulator cannot work with this server",
    };

    private static string Quote(string text) =>
        "\"" + (text.Length > 60 ? text[..60] + "..." : text).Replace("\n", "\\n").Replace("\t", "\\t") + "\"";
}
