using NeuronExplainer.Activations;
using NeuronExplainer.Cli;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;
using static NeuronExplainer.Tests.CliRunner;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>The explain and score commands, run in-process over a store of made-up neurons.</summary>
public sealed class ExplanationCommandTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-cli-" + Guid.NewGuid().ToString("N"));

    public ExplanationCommandTests()
    {
        using var store = SqliteNeuronStore.Open(directory);
        var records = Enumerable.Range(0, 2).SelectMany(layer => Enumerable.Range(0, 4).Select(n => n == 3
            ? SyntheticNeurons.Silent(layer, n)
            : SyntheticNeurons.Make(new NeuronId(layer, n), (t, i) => t[i] == SyntheticNeurons.Words[n + 4 * layer] ? 4 : 0, seed: 10 * layer + n)));
        store.PutNeuronRecords([.. records]);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>The explainer gets an explanation and the simulator a value line for each of the 16 tokens of an excerpt.</summary>
    static void AnswerEveryPrompt(FakeOpenAiServer server) =>
        server.ChatContent = (request, _) => request.Messages[^1].Contains("unknown")
            ? string.Join('\n', Enumerable.Range(0, 16).Select(i => (i % 3).ToString()))
            : "the word cat";

    [Fact]
    public void Explain_then_score_with_the_baseline_prints_the_summary_with_the_control_and_resumes()
    {
        var explain = Run("explain", "--store", directory);
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("Explained 8 neurons, 0 already done", explain.Out);

        var score = Run("score", "--store", directory, "--control", "shuffled");
        Assert.True(score.Code == 0, score.Err);
        Assert.Contains("Scored 6 neurons, 2 already done; control: 6 scored", score.Out);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
        {
            var real = store.ListScores().Where(s => s.Explainer == "baseline").ToList();
            Assert.True(6 == real.Count(s => s.Status == NeuronStatus.Done && s.Score > 0.9), string.Join("; ", real) + score.Out);
            Assert.Equal(2, real.Count(s => s.Status == NeuronStatus.NoActivations));
            Assert.True(6 == store.ListScores().Count(s => s.Explainer == "shuffled:baseline" && s.Status == NeuronStatus.Done), string.Join("\n", store.ListExplanationResults().Select(r => $"{r.Neuron} {r.Explainer} {r.Status} {r.Reason}")));
        }
        var allRow = score.Out.Split('\n').Single(l => l.TrimStart().StartsWith("all ", StringComparison.Ordinal));
        Assert.Contains("100.0%", allRow);

        var again = Run("score", "--store", directory, "--layers", "1", "--neurons", "0-2");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("Scored 0 neurons, 3 already done", again.Out);
    }

    [Fact]
    public void Neurons_selects_units_of_any_kind_by_their_printed_form_or_every_kind_by_index()
    {
        var head = NeuronId.Head(1, 0);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
            store.PutNeuronRecords([SyntheticNeurons.Make(head, (t, i) => t[i] == SyntheticNeurons.Words[0] ? 4 : 0, seed: 99)]);

        var some = Run("explain", "--store", directory, "--neurons", "head:1/0,0/1");
        Assert.True(some.Code == 0, some.Err);
        Assert.Contains("Explained 2 neurons, 0 already done", some.Out);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
            Assert.Equal([new NeuronId(0, 1), head], store.ListExplanationResults().Select(r => r.Neuron).OrderBy(n => n.Kind));

        // An index list applies to every kind: neuron 1/0 and head 1/0.
        var byIndex = Run("explain", "--store", directory, "--layers", "1", "--neurons", "0");
        Assert.Contains("Explained 1 neurons, 1 already done", byIndex.Out);
        var bad = Run("explain", "--store", directory, "--neurons", "head:1/0,sae:a b/1");
        Assert.Equal(1, bad.Code);
        Assert.Contains("--neurons 'sae:a b/1' is not a unit", bad.Err);
    }

    [Fact]
    public void Score_with_more_scorers_adds_their_scores_per_method_with_the_control_beside_them()
    {
        Assert.Equal(0, Run("explain", "--store", directory).Code);
        Assert.Equal(0, Run("score", "--store", directory, "--control", "shuffled").Code);
        var score = Run("score", "--store", directory, "--control", "shuffled", "--scorers", "simulation,detection,fuzzing");
        Assert.True(score.Code == 0, score.Err);
        // Scored already: only the new methods' scores are added, to the neurons' own results and to the control's.
        Assert.Contains("Scored 6 neurons, 2 already done; control: 6 scored", score.Out);
        var rows = score.Out.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length == 8).ToList();
        foreach (var method in new[] { "detection", "detection-auc", "fuzzing", "fuzzing-auc", "simulation-correlation" })
            Assert.Contains(rows, c => c[0] == "all" && c[1] == method && c[2] == "6" && c[4] == "0" && c[7] == "(6)");
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Equal(5 * 12, store.ListMethodScores().Count);

        var again = Run("score", "--store", directory, "--control", "shuffled", "--scorers", "detection");
        Assert.Contains("Scored 0 neurons, 8 already done; control: 0 scored, 6 already done", again.Out);
    }

    [Fact]
    public void A_missing_api_key_is_one_clear_error_before_any_work()
    {
        var result = Run("explain", "--store", directory, "--explainer", "gpt-4o-mini", "--simulator", "gpt-4o-mini",
            "--api-key-env", "NX_TEST_KEY_THAT_IS_NOT_SET");
        Assert.Equal(1, result.Code);
        Assert.Contains("NX_TEST_KEY_THAT_IS_NOT_SET", result.Err);
        Assert.Single(result.Err.Trim().Split('\n'));
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Empty(store.ListExplanationResults());
    }

    [Fact]
    public void An_unreachable_server_is_one_clear_error_before_any_work()
    {
        var result = Run("explain", "--store", directory, "--explainer", "m", "--simulator", "m", "--base-url", "http://127.0.0.1:9/v1");
        Assert.Equal(1, result.Code);
        Assert.Contains("127.0.0.1:9", result.Err);
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Empty(store.ListExplanationResults());
    }

    [Theory]
    [InlineData("--samples", "0", "--samples must be between 1 and 20")]
    [InlineData("--neurons", "5-2", "--neurons '5-2' is not a list")]
    [InlineData("--layers", "7", "selects none of the store's neurons (layers 0,1")]
    [InlineData("--simulator-method", "guess", "--simulator-method 'guess' is not known")]
    [InlineData("--scorers", "simulation,telepathy", "--scorers 'telepathy' is not known; expected simulation or detection or fuzzing")]
    public void Bad_options_are_named_in_the_error(string option, string value, string message)
    {
        string[] llm = option == "--simulator-method" ? ["--simulator", "m", "--base-url", "http://127.0.0.1:9/v1"] : [];
        var result = Run(["score", "--store", directory, option, value, .. llm]);
        Assert.Equal(1, result.Code);
        Assert.Contains(message, result.Err);
    }

    [Fact]
    public void The_baseline_simulator_refuses_an_llm_explainer() =>
        Assert.Contains("--simulator baseline reads only baseline explanations", Run("explain", "--store", directory, "--explainer", "gpt-4o").Err);

    [Fact]
    public void A_directory_without_a_store_is_an_error() =>
        Assert.Contains("no store in", Run("explain", "--store", Path.Combine(directory, "nothing")).Err);

    [Fact]
    public async Task LLM_explain_and_score_through_the_fake_server_report_tokens_and_a_dry_run_sends_nothing()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.ChatContent = (request, _) => request.Messages[^1].Contains("unknown")
            ? string.Join('\n', Enumerable.Repeat("0", 16))
            : "the word cat";
        string[] llm = ["--explainer", "fake-chat", "--simulator", "fake-chat", "--base-url", server.BaseUrl.ToString(), "--layers", "0", "--neurons", "0"];

        var dry = Run(["explain", "--store", directory, "--dry-run", .. llm]);
        Assert.True(dry.Code == 0, dry.Err);
        Assert.Contains("would send", dry.Out);
        Assert.Equal(0, server.Count(FakeOpenAiServer.Chat));

        var explain = Run(["explain", "--store", directory, .. llm]);
        Assert.True(explain.Code == 0, explain.Err);
        var score = Run(["score", "--store", directory, .. llm]);
        Assert.True(score.Code == 0, score.Err);
        Assert.Contains("LLM: sent", score.Out);
        using var store = SqliteNeuronStore.OpenExisting(directory);
        var result = store.GetExplanationResult(new NeuronId(0, 0), "token-activation-pair:fake-chat", "chat:fake-chat")!;
        // All-zero simulations are constant: the score is undefined with a reason, never 0.
        Assert.Equal(NeuronStatus.Done, result.Status);
        var scored = result.Results!.ScoredExplanations[result.ChosenIndex!.Value].ScoredSimulation;
        Assert.Null(scored.EvCorrelationScore);
        Assert.NotNull(scored.UndefinedReason);
    }

    [Fact]
    public async Task All_at_once_through_the_fake_server_prints_the_share_of_slots_without_a_value_per_layer()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        // A model that never puts a value after " big" (1 token in 12) and otherwise predicts each neuron's word.
        server.PredictValueSlots(line => line == " big" ? [new("unknown", -0.1)]
            : SyntheticNeurons.Words[..8].Contains(line) ? [new("7", -0.3), new("0", -1.5)] : [new("0", -0.1), new("2", -3)]);
        var run = Run("explain", "--store", directory, "--simulator", "fake-instruct", "--simulator-method", "all-at-once",
            "--base-url", server.BaseUrl.ToString(), "--layers", "0", "--neurons", "0-2");
        Assert.True(run.Code == 0, run.Err + run.Out);
        var score = Run("score", "--store", directory, "--simulator", "fake-instruct", "--simulator-method", "all-at-once",
            "--base-url", server.BaseUrl.ToString(), "--layers", "0", "--neurons", "0-2");
        Assert.True(score.Code == 0, score.Err + score.Out);

        using var store = SqliteNeuronStore.OpenExisting(directory);
        int slots = 0, big = 0;
        foreach (var n in Enumerable.Range(0, 3))
        {
            var result = store.GetExplanationResult(new NeuronId(0, n), "baseline", "all-at-once:fake-instruct")!;
            Assert.True(result.Status == NeuronStatus.Done, result.Reason);
            var record = store.GetNeuronRecord(new NeuronId(0, n))!;
            slots += record.ValidRecords().Sum(r => r.Tokens.Count);
            big += record.ValidRecords().Sum(r => r.Tokens.Count(t => t == " big"));
        }
        string expected = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"layer 0 {(double)big / slots:0.0%} ({big} of {slots})");
        Assert.Contains("Value slots without a value 0..10 in the top logprobs (scored 0): " + expected + ", all ", score.Out);
    }

    [Fact]
    public async Task Max_cost_stops_cleanly_and_a_second_run_finishes_without_paying_twice()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        AnswerEveryPrompt(server);
        string prices = Path.Combine(directory, "prices.json");
        File.WriteAllText(prices, """{"fake-chat": {"prompt_per_million": 1000, "completion_per_million": 1000}}""");
        string[] llm = ["--store", directory, "--explainer", "fake-chat", "--simulator", "fake-chat", "--base-url", server.BaseUrl.ToString(),
            "--prices", prices, "--layers", "0", "--concurrency", "1"];

        var stopped = Run(["explain", .. llm, "--max-cost", "25"]);
        Assert.Equal(1, stopped.Code);
        Assert.Contains("stopped early", stopped.Err);
        Assert.Contains("not started (stopped)", stopped.Out);
        int paidFirst = server.Count(FakeOpenAiServer.Chat);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
        {
            Assert.InRange(store.ListExplanationResults().Count, 1, 3);
            Assert.True(store.ListLedger().Sum(e => e.Cost) <= 25m);
        }

        var finished = Run(["explain", .. llm]);
        Assert.True(finished.Code == 0, finished.Err);
        Assert.Contains("already done", finished.Out);
        var bodies = server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat).Select(r => r.Body.GetRawText()).ToList();
        Assert.True(bodies.Count > paidFirst);
        Assert.Equal(bodies.Count, bodies.Distinct().Count());
    }

    [Fact]
    public async Task A_server_that_refuses_every_call_stops_the_run_with_its_cause_and_exit_1()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        // 400 is not retried, so each failed call is one request.
        server.Enqueue(FakeOpenAiServer.Chat, Enumerable.Repeat(FakeReply.Error(400), 100).ToArray());
        var failed = Run("explain", "--store", directory, "--explainer", "fake-chat", "--simulator", "fake-chat", "--base-url", server.BaseUrl.ToString(),
            "--concurrency", "1");

        Assert.Equal(1, failed.Code);
        Assert.Equal(new LlmPipelineOptions().MaxConsecutiveFailures, server.Count(FakeOpenAiServer.Chat));
        var errorLines = failed.Err.Trim().Split('\n').Where(l => l.StartsWith("error:")).ToList();
        Assert.Contains(errorLines, l => l.Contains("failed 5 calls in a row") && l.Contains("HTTP 400"));
        Assert.Contains("not started (stopped)", failed.Out);
    }

    [Fact]
    public async Task A_neuron_that_failed_for_a_server_reason_makes_the_run_exit_1_and_a_rerun_retries_it()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        AnswerEveryPrompt(server);
        server.Enqueue(FakeOpenAiServer.Chat, FakeReply.Error(400));
        string[] llm = ["--store", directory, "--explainer", "fake-chat", "--simulator", "fake-chat", "--base-url", server.BaseUrl.ToString(),
            "--layers", "0", "--concurrency", "1"];

        var first = Run(["explain", .. llm]);
        Assert.Equal(1, first.Code);
        Assert.Contains("1 LLM call(s) failed after their retries", first.Err);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
            Assert.Single(store.ListExplanationResults(0), r => r.Status == NeuronStatus.Failed && r.Reason!.Contains("HTTP 400"));

        var rerun = Run(["explain", .. llm]);
        Assert.True(rerun.Code == 0, rerun.Err);
        using var reopened = SqliteNeuronStore.OpenExisting(directory);
        Assert.DoesNotContain(reopened.ListExplanationResults(0), r => r.Status == NeuronStatus.Failed);
    }

    [Fact]
    public void Explanations_of_another_source_are_scored_with_our_simulator()
    {
        Assert.Equal(0, Run("explain", "--store", directory, "--layers", "0").Code);
        Assert.Equal(0, Run("score", "--store", directory, "--layers", "0").Code);
        using (var store = SqliteNeuronStore.OpenExisting(directory))
            foreach (var result in store.ListExplanationResults(0).Where(r => r.Status == NeuronStatus.Done))
                store.PutExplanationResult(result with { Explainer = "imported", Simulator = "imported" });

        var scored = Run("score", "--store", directory, "--explanations-from", "imported");
        Assert.True(scored.Code == 0, scored.Err);
        Assert.Contains("Explained and scored 3 neurons", scored.Out);
        using var reopened = SqliteNeuronStore.OpenExisting(directory);
        var rescored = reopened.ListScores(0).Where(s => s is { Explainer: "imported", Simulator: "baseline" }).ToList();
        Assert.Equal(3, rescored.Count(s => s.Status == NeuronStatus.Done && s.Score > 0.9));

        Assert.Contains("no scored explanations by 'nobody'", Run("score", "--store", directory, "--explanations-from", "nobody").Err);
    }
}
