using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Explanations;

/// <summary><c>--protocol paper</c>: OpenAI's excerpt counts, the all-at-once simulator where the server can, and a store that remembers its protocol.</summary>
public sealed class ProtocolTests : IAsyncLifetime, IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "nx-protocol-" + Guid.NewGuid().ToString("N"));
    FakeOpenAiServer server = null!;

    public async Task InitializeAsync()
    {
        server = await FakeOpenAiServer.StartAsync();
        // Explains every neuron as cats; as a chat simulator, 10 on " cat" lines; as an all-at-once model, "10" likely at " cat" slots.
        server.ChatContent = (request, _) => CatValues(request.Messages[^1]) ?? "the word cat";
        server.PredictValueSlots(line => line == " cat" ? [new("10", -0.1), new("0", -2.5)] : [new("0", -0.05), new("1", -3.0)]);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    static string? CatValues(string message)
    {
        int start = message.IndexOf("<start>\n", StringComparison.Ordinal);
        if (start < 0 || !message.Contains("unknown", StringComparison.Ordinal)) return null;
        var lines = message[(start + 8)..message.IndexOf("<end>", start, StringComparison.Ordinal)].TrimEnd('\n').Split('\n');
        return string.Join('\n', lines.Select(line => line.StartsWith(" cat\t", StringComparison.Ordinal) ? "10" : "0"));
    }

    void PutCatNeurons()
    {
        using var store = SqliteNeuronStore.Open(directory);
        store.PutNeuronRecords([SyntheticNeurons.Cat(0, 0, seed: 1), SyntheticNeurons.Cat(0, 1, seed: 2)]);
    }

    string[] Llm(params string[] more) =>
        ["--store", directory, "--explainer", "fake-chat", "--simulator", "fake-instruct", "--base-url", server.BaseUrl.ToString(), .. more];

    [Fact]
    public void The_paper_protocol_takes_each_split_as_openais_n_examples_per_split_5_does()
    {
        var record = SyntheticNeurons.Cat();
        var paper = ExplanationProtocol.Paper.Excerpts(record);
        var top = record.MostPositiveActivationRecords;
        var random = record.RandomSample;
        // Top excerpts: split s of train/calibration/valid/test takes s, s + 4, ..., s + 16; random ones of calibration/valid/test s, s + 3, ..., s + 12.
        Assert.Equal([top[0], top[4], top[8], top[12], top[16]], paper.TrainRecords());
        Assert.Equal([top[1], top[5], top[9], top[13], top[17], random[0], random[3], random[6], random[9], random[12]], paper.CalibrationRecords());
        Assert.Equal([top[2], top[6], top[10], top[14], top[18], random[1], random[4], random[7], random[10], random[13]], paper.ValidRecords());
        Assert.Equal(record.MaxActivation, paper.MaxActivation);
        Assert.Same(record, ExplanationProtocol.Ours.Excerpts(record));
        Assert.Equal(10, record.TrainRecords().Count);
    }

    [Fact]
    public async Task Under_the_paper_protocol_the_flow_explains_from_5_train_excerpts_and_scores_on_5_top_and_5_random()
    {
        var explainer = new SeeingExplainer();
        var flow = new ExplanationFlow(explainer, new BaselineSimulator(), new ExplanationFlowOptions(Protocol: ExplanationProtocol.Paper));
        var result = await flow.ExplainAndScoreAsync(new ExplainerInput(SyntheticNeurons.Cat(), null), CancellationToken.None);

        Assert.Equal(NeuronStatus.Done, result.Status);
        Assert.Equal(5, explainer.TrainExcerpts);
        var valid = result.Results!.ScoredExplanations[result.ChosenIndex!.Value].ScoredSimulation;
        Assert.Equal(ExplanationProtocol.Paper.Excerpts(SyntheticNeurons.Cat()).ValidRecords().Select(r => r.Tokens),
            valid.ScoredSequenceSimulations.Select(s => s.Simulation.Tokens));
    }

    [Fact]
    public void Paper_protocol_simulates_all_at_once_where_the_server_echoes_logprobs_and_the_store_refuses_another_protocol()
    {
        PutCatNeurons();
        var explain = Run(["explain", .. Llm("--protocol", "paper")]);
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("protocol paper: explain from at most 5 top train excerpts", explain.Out);
        Assert.Contains("simulator all-at-once: the server echoes prompt logprobs for fake-instruct", explain.Out);
        // Explaining saw 5 train excerpts; calibration was simulated on 5 + 5 excerpts, one completion each.
        var prompts = new[] { SyntheticNeurons.Cat(0, 0, seed: 1), SyntheticNeurons.Cat(0, 1, seed: 2) }
            .Select(r => ExplainerPrompts.TokenActivationPairs(ExplanationProtocol.Paper.Excerpts(r).TrainRecords())[^1].Content);
        Assert.Equal(prompts.Order(), server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Chat).Select(r => r.Messages[^1]).Order());
        var simulated = new[] { SyntheticNeurons.Cat(0, 0, seed: 1), SyntheticNeurons.Cat(0, 1, seed: 2) }
            .SelectMany(r => ExplanationProtocol.Paper.Excerpts(r).CalibrationRecords())
            .Select(r => SimulatorPrompts.AllAtOnce("the word cat", r.Tokens).Prompt).ToHashSet();
        Assert.Equal(10, ExplanationProtocol.Paper.Excerpts(SyntheticNeurons.Cat(0, 0, seed: 1)).CalibrationRecords().Count);
        Assert.True(simulated.SetEquals(server.Requests.Where(r => r.Endpoint == FakeOpenAiServer.Completions && r.Prompt.Contains("<start>")).Select(r => r.Prompt)));

        var ours = Run(["score", .. Llm()]);
        Assert.Equal(1, ours.Code);
        Assert.Contains("--protocol is 'ours', but the store holds results made under protocol 'paper'", ours.Err);

        var score = Run(["score", .. Llm("--protocol", "paper")]);
        Assert.True(score.Code == 0, score.Err);
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Equal("paper", store.GetProtocol());
        var results = store.ListExplanationResults(0);
        Assert.Equal(2, results.Count);
        Assert.All(results, r =>
        {
            Assert.Equal((NeuronStatus.Done, "all-at-once:fake-instruct"), (r.Status, r.Simulator));
            var valid = r.Results!.ScoredExplanations[r.ChosenIndex!.Value].ScoredSimulation;
            Assert.Equal(10, valid.ScoredSequenceSimulations.Count);
            Assert.True(valid.EvCorrelationScore > 0.9, $"{valid.EvCorrelationScore}");
        });
    }

    [Fact]
    public void Paper_protocol_falls_back_to_the_chat_simulator_and_says_so_when_the_server_echoes_no_logprobs()
    {
        PutCatNeurons();
        server.Enqueue(FakeOpenAiServer.Completions, FakeReply.NoLogprobs);
        var explain = Run(["explain", .. Llm("--protocol", "paper", "--layers", "0", "--neurons", "0")]);
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("simulator chat: the server gave no echoed prompt logprobs for fake-instruct", explain.Out);
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Equal("chat:fake-instruct", Assert.Single(store.ListExplanationResults(0)).Simulator);
    }

    [Fact]
    public void OpenAIs_imported_explanations_are_scored_under_the_paper_protocol()
    {
        var import = Run("import", "--from", StoreFixtures.OpenAiLayout, "--store", directory);
        Assert.True(import.Code == 0, import.Err);

        var score = Run(["score", .. Llm("--protocol", "paper", "--explanations-from", "openai")]);
        Assert.True(score.Code == 0, score.Err);
        Assert.Contains("simulator all-at-once", score.Out);
        using var store = SqliteNeuronStore.OpenExisting(directory);
        Assert.Equal("paper", store.GetProtocol());
        var ours = Assert.Single(store.GetExplanationResults(new NeuronId(0, 5)), r => r.Simulator == "all-at-once:fake-instruct");
        Assert.Equal((NeuronStatus.Done, "openai"), (ours.Status, ours.Explainer));
        var chosen = ours.Results!.ScoredExplanations[ours.ChosenIndex!.Value];
        Assert.Equal("the word \"sky\"", chosen.Explanation.Trim());
        // The fixture's neuron has 4 top and 3 random excerpts: one of each per split, as OpenAI's slicing gives with fewer than 5.
        Assert.Equal(2, chosen.ScoredSimulation.ScoredSequenceSimulations.Count);
        // OpenAI's own scored explanation stays beside ours; a neuron imported without its collated activations is failed with the reason.
        Assert.Contains(store.GetExplanationResults(new NeuronId(0, 5)), r => r.Simulator == "openai");
        var unrecorded = Assert.Single(store.GetExplanationResults(new NeuronId(1, 2)), r => r.Simulator == "all-at-once:fake-instruct");
        Assert.Equal(NeuronStatus.Failed, unrecorded.Status);
        Assert.Contains("holds no activation record of neuron 1/2", unrecorded.Reason);
    }

    /// <summary>The baseline explainer, counting the train excerpts it is given.</summary>
    sealed class SeeingExplainer : IExplainer
    {
        readonly BaselineExplainer inner = new();
        public int TrainExcerpts { get; private set; }
        public string Name => inner.Name;

        public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
        {
            TrainExcerpts = input.Record.TrainRecords().Count;
            return inner.ExplainAsync(input, samples, cancellationToken);
        }

        public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
            CancellationToken cancellationToken) => inner.ReviseAsync(input, current, counterexamples, cancellationToken);
    }
}
