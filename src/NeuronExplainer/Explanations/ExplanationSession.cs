using NeuronExplainer.Activations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>What an explain/score run asks for: components by their registered names, the LLM server, the flow's numbers.</summary>
public sealed record ExplanationSettings
{
    /// <summary>A registered explainer that asks no LLM (<see cref="ExplanationRegistry.Explainers"/>), or the model of an LLM explainer.</summary>
    public string Explainer { get; init; } = BaselineExplainer.BaselineName;
    /// <summary>The registered LLM explainer that asks <see cref="Explainer"/> when that is a model.</summary>
    public string ExplainerMethod { get; init; } = "pairs";
    /// <summary>A registered simulator that asks no LLM (<see cref="ExplanationRegistry.Simulators"/>), or the model of an LLM simulator.</summary>
    public string Simulator { get; init; } = BaselineExplainer.BaselineName;
    /// <summary>
    /// The registered LLM simulator that asks <see cref="Simulator"/> when that is a model; null for the protocol's choice
    /// (<see cref="ExplanationProtocol.SimulatorMethod"/>: chat under ours; under the paper's, all-at-once when the server
    /// echoes prompt logprobs for the model, else chat).
    /// </summary>
    public string? SimulatorMethod { get; init; }
    /// <summary>The <see cref="ExplanationProtocol"/> by name: which excerpts are explained and scored on.</summary>
    public string Protocol { get; init; } = ExplanationProtocol.Ours.Name;
    /// <summary>The OpenAI-compatible server's API root; read only when a component asks an LLM.</summary>
    public string BaseUrl { get; init; } = LlmEndpoint.OpenAiBaseUrl.ToString();
    public string ApiKeyEnv { get; init; } = LlmEndpoint.DefaultApiKeyEnv;
    /// <summary>A JSON price table; null for the built-in one.</summary>
    public string? PricesFile { get; init; }
    /// <summary>Explanations per neuron; the best on the calibration split is kept.</summary>
    public int Samples { get; init; } = 1;
    /// <summary>Revision rounds against the worst calibration excerpts.</summary>
    public int Revisions { get; init; }
    /// <summary>Budget of LLM calls in US dollars; null for none.</summary>
    public decimal? MaxCost { get; init; }
    /// <summary>Neurons (and LLM calls) worked on at once.</summary>
    public int Concurrency { get; init; } = 4;
    /// <summary>How long a claim on a neuron lasts unless renewed (<see cref="ExplanationRunner.DefaultClaimLease"/> when null): a killed worker's neurons are taken over after it.</summary>
    public TimeSpan? ClaimLease { get; init; }
    /// <summary>Count calls, tokens and cost instead of calling or storing anything.</summary>
    public bool DryRun { get; init; }
    /// <summary>Seed of the bootstrap intervals and of the shuffled control.</summary>
    public int Seed { get; init; }
    /// <summary>The control run after scoring (<see cref="ControlKind.Shuffled"/>), or none.</summary>
    public ControlKind Control { get; init; }
    /// <summary>Registered scorers (<see cref="ExplanationRegistry.Scorers"/>) of the chosen explanation, each stored by method.</summary>
    public IReadOnlyList<string> Scorers { get; init; } = [SimulationCorrelationScorer.Name];
    /// <summary>Loads the model whose neurons the store holds, for the ablation scorer; called at most once, on first use.</summary>
    public Func<NeuronAblation>? Ablation { get; init; }
}

/// <summary>
/// The library's entry point for explaining and scoring: checks the settings, builds the registered explainer and
/// simulator (behind one checked LLM connection when either asks one), runs a step over neurons of a store,
/// then the control when one is asked for. Front ends parse their options into <see cref="ExplanationSettings"/>
/// and show the progress and results.
/// </summary>
public sealed class ExplanationSession : IDisposable
{
    readonly ExplanationSettings settings;
    readonly LlmPipeline? llm;
    readonly bool ownsLlm;
    /// <summary>The only neurons this session works on (those with assigned explanations), or null for all.</summary>
    readonly IReadOnlySet<NeuronId>? only;

    ExplanationSession(ExplanationSettings settings, IExplainer explainer, ISimulator simulator, IReadOnlyList<IScorer> scorers, LlmPipeline? llm,
        bool ownsLlm, string? simulatorChoice, IReadOnlySet<NeuronId>? only = null)
    {
        this.settings = settings;
        Protocol = ExplanationProtocol.Find(settings.Protocol);
        SimulatorChoice = simulatorChoice;
        Explainer = explainer;
        Simulator = simulator;
        Scorers = scorers;
        this.llm = llm;
        this.ownsLlm = ownsLlm;
        this.only = only;
    }

    public IExplainer Explainer { get; }
    public ISimulator Simulator { get; }
    public IReadOnlyList<IScorer> Scorers { get; }
    public ExplanationSettings Settings => settings;
    public ExplanationProtocol Protocol { get; }

    /// <summary>Why the LLM simulator method was chosen when the protocol chose it (null when it was named or none asks an LLM).</summary>
    public string? SimulatorChoice { get; }

    /// <summary>What the LLM calls used so far; null when no component asks an LLM.</summary>
    public LlmUsage? Usage => llm?.Usage;

    /// <summary>Checks the settings, then connects to the LLM server when a component asks one (one clear error before any work).</summary>
    /// <param name="cache">Holds the LLM response cache and the ledger.</param>
    public static async Task<ExplanationSession> OpenAsync(ExplanationSettings settings, ILlmStore cache, CancellationToken cancellationToken = default)
    {
        Require(settings.Samples is >= 1 and <= 20, nameof(settings.Samples), $"must be between 1 and 20, got {settings.Samples}");
        Require(settings.Revisions is >= 0 and <= 10, nameof(settings.Revisions), $"must be between 0 and 10, got {settings.Revisions}");
        Require(settings.ClaimLease is null || settings.ClaimLease >= TimeSpan.FromSeconds(1), nameof(settings.ClaimLease), $"must be at least 1 second, got {settings.ClaimLease}");
        Require(settings.Concurrency is >= 1 and <= 256, nameof(settings.Concurrency), $"must be between 1 and 256, got {settings.Concurrency}");
        var protocol = ExplanationProtocol.Find(settings.Protocol);
        // The baseline simulator reads back the baseline's own format; it cannot simulate prose.
        if (settings.Simulator == BaselineExplainer.BaselineName && settings.Explainer != BaselineExplainer.BaselineName)
            throw SettingException.Of<ExplanationSettings>(nameof(settings.Simulator),
                $"{settings.Simulator} reads only baseline explanations, not those of {settings.Explainer}; name an LLM simulator");
        var (explainer, explainerModel) = ExplanationRegistry.Resolve(ExplanationRegistry.Explainers, settings.Explainer, settings.ExplainerMethod,
            nameof(settings.ExplainerMethod));
        bool simulatorAsksLlm = !ExplanationRegistry.Simulators.Any(r => !r.UsesLlm && r.Name == settings.Simulator);
        string? method = settings.SimulatorMethod ?? protocol.SimulatorMethod, choice = null;
        // A method that is named is checked before connecting; only the paper's choice needs the server.
        if (method is not null) ExplanationRegistry.Resolve(ExplanationRegistry.Simulators, settings.Simulator, method, nameof(settings.SimulatorMethod));

        LlmPipeline? llm = null;
        var models = new[] { explainerModel, simulatorAsksLlm ? settings.Simulator : null }.OfType<string>().Distinct().ToList();
        if (models.Count > 0)
        {
            var endpoint = LlmEndpoint.Parse(settings.BaseUrl, settings.ApiKeyEnv);
            var prices = settings.PricesFile is { } path ? PriceTable.Load(path) : PriceTable.Default;
            var options = new LlmPipelineOptions { MaxCost = settings.MaxCost, Concurrency = settings.Concurrency, DryRun = settings.DryRun };
            llm = await LlmPipeline.ConnectAsync(endpoint, models, options, prices, cache, cancellationToken);
            try
            {
                if (simulatorAsksLlm && method is null)
                    (method, choice) = await ChooseSimulatorMethodAsync(endpoint, settings.Simulator, settings.DryRun, cancellationToken);
            }
            catch
            {
                llm.Dispose();
                throw;
            }
        }
        var (simulator, simulatorModel) = ExplanationRegistry.Resolve(ExplanationRegistry.Simulators, settings.Simulator, method ?? "chat",
            nameof(settings.SimulatorMethod));
        IExplainer builtExplainer = explainer.Create(new ComponentContext(explainerModel, llm));
        ISimulator builtSimulator = simulator.Create(new ComponentContext(simulatorModel, llm));
        var scorers = settings.Scorers.Distinct().Select(name => ExplanationRegistry.Find(ExplanationRegistry.Scorers, name, nameof(settings.Scorers))
            .Create(new ComponentContext(simulatorModel, llm, settings.Ablation, settings.DryRun))).ToList();
        if (settings.DryRun) (builtExplainer, builtSimulator) = (new DryRunExplainer(builtExplainer), new DryRunSimulator(builtSimulator));
        return new ExplanationSession(settings, builtExplainer, builtSimulator, scorers, llm, ownsLlm: true, choice);
    }

    /// <summary>
    /// The paper's simulator where the server can run it: all-at-once when one echoed completion of <paramref name="model"/>
    /// comes back with prompt logprobs, else chat; with the reason. A dry run sends nothing, so it assumes chat.
    /// </summary>
    static async Task<(string Method, string Reason)> ChooseSimulatorMethodAsync(LlmEndpoint endpoint, string model, bool dryRun,
        CancellationToken cancellationToken)
    {
        if (dryRun) return ("chat", "simulator chat: a dry run does not ask the server whether it echoes prompt logprobs for all-at-once");
        var probe = (await LlmServerCheck.RunAsync(endpoint, chatModel: null, completionModel: model, TimeSpan.FromSeconds(30), cancellationToken)).Single();
        return probe is { Answered: true, Logprobs: true }
            ? ("all-at-once", $"simulator all-at-once: the server echoes prompt logprobs for {model}")
            : ("chat", $"simulator chat: the server gave no echoed prompt logprobs for {model} ({(probe.Answered ? "the answer had none" : probe.Detail)}), so all-at-once cannot run");
    }

    /// <summary>
    /// Checks that the store's results were made under this session's protocol, recording it in a store that has none
    /// yet (not in a dry run), so scores made under two protocols never sit in one store as if they compared.
    /// </summary>
    public void CheckProtocol(IExplanationResultStore results)
    {
        string recorded = settings.DryRun ? results.GetProtocol() ?? Protocol.Name : results.RecordProtocol(Protocol.Name);
        if (recorded != Protocol.Name)
            throw SettingException.Of<ExplanationSettings>(nameof(settings.Protocol),
                $"is '{Protocol.Name}', but the store holds results made under protocol '{recorded}'; expected '{recorded}', or use another store");
    }

    /// <summary>
    /// The store's neurons in layer/neuron order, of <paramref name="layers"/> and <paramref name="neurons"/> (all when
    /// null) and that this session works on; empty when none is selected. A store without records, or whose
    /// collection has not written all of them (a collect killed or still running), is an error.
    /// </summary>
    public IReadOnlyList<NeuronId> SelectNeurons(ICollectionOutput records, IReadOnlySet<int>? layers, IReadOnlySet<int>? neurons)
    {
        records.EnsureCollectionComplete();
        var all = records.ListNeurons();
        if (all.Count == 0)
            throw new NeuronExplainerException($"store {records.Location} holds no neuron records; run collect (or run) first");
        return [.. all.Where(n => (layers is null || layers.Contains(n.LayerIndex)) && (neurons is null || neurons.Contains(n.NeuronIndex))
            && (only is null || only.Contains(n)))];
    }

    /// <summary>
    /// Units worked on at once: the concurrency asked for, but no more than the cores when no LLM is called, since that work
    /// is all CPU and more workers than cores only take turns at the store's lock (a profile of the baseline pair with 4
    /// workers on 2 cores had a fifth of its samples waiting there).
    /// </summary>
    int Workers => llm is null ? Math.Min(settings.Concurrency, Environment.ProcessorCount) : settings.Concurrency;

    /// <summary>Runs <paramref name="step"/> over <paramref name="neurons"/>, each result stored when it is finished.</summary>
    public Task<RunCounts> RunAsync(INeuronRecordStore records, IExplanationResultStore results, IReadOnlyList<NeuronId> neurons, RunStep step,
        Action<RunProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckProtocol(results);
        return new ExplanationRunner(records, results, new ExplanationFlow(Explainer, Simulator, FlowOptions()), Workers, settings.DryRun,
                claimLease: settings.ClaimLease)
            .RunAsync(neurons, step, progress, cancellationToken);
    }

    /// <summary>
    /// A session that scores the chosen explanation of each neuron stored under explainer <paramref name="source"/>
    /// (e.g. imported from OpenAI's dataset) with this session's simulator, like a single sample, stored under
    /// <paramref name="source"/>; it works only on neurons that have one. Shares this session's LLM connection.
    /// </summary>
    public ExplanationSession ScoringExplanationsOf(string source, INeuronRecordStore records, IExplanationResultStore results)
    {
        var stored = Chosen(results, records.ListNeurons(), source, simulator: null);
        if (stored.Count == 0)
            throw new NeuronExplainerException($"store {records.Location} holds no scored explanations by '{source}' to score");
        var assigned = new AssignedExplanations(source, stored, $"the neuron has no explanation by '{source}'");
        return new ExplanationSession(settings with { Samples = 1, Revisions = 0 }, assigned, Simulator, Scorers, llm, ownsLlm: false, SimulatorChoice,
            assigned.Neurons.ToHashSet());
    }

    /// <summary>Whether the control follows a step that ended with <paramref name="counts"/>: asked for, scored, not stopped early, not a dry run.</summary>
    public bool ControlFollows(RunStep step, RunCounts counts) =>
        settings.Control != ControlKind.None && step != RunStep.Explain && counts.StopReason is null && !settings.DryRun;

    /// <summary>
    /// The shuffled control: every neuron of <paramref name="neurons"/> scored with the chosen explanation of another
    /// neuron of its layer (a seeded cycle); its mean sits near 0 unless scoring leaks.
    /// </summary>
    public Task<RunCounts> RunControlAsync(INeuronRecordStore records, IExplanationResultStore results, IReadOnlyList<NeuronId> neurons,
        Action<RunProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckProtocol(results);
        var chosen = Chosen(results, neurons, Explainer.Name, Simulator.Name);
        var shuffled = ShuffledControl.Create(Explainer.Name, chosen, settings.Seed);
        var options = FlowOptions() with { Samples = 1, Revisions = 0, Control = ControlKind.Shuffled };
        return new ExplanationRunner(records, results, new ExplanationFlow(shuffled, Simulator, options), Workers, claimLease: settings.ClaimLease)
            .RunAsync([.. shuffled.Neurons], RunStep.ExplainAndScore, progress, cancellationToken);
    }

    /// <summary>Per layer and in all, the scores of this session's explainer/simulator over <paramref name="neurons"/>, with the control's beside them.</summary>
    public IReadOnlyList<LayerSummary> Summarize(IExplanationResultStore results, IReadOnlyCollection<NeuronId> neurons) =>
        RunSummary.Build(results, neurons, Explainer.Name, Simulator.Name);

    /// <summary>Per layer and in all, each method of this session's scorers over <paramref name="neurons"/>, with the control's beside it.</summary>
    public IReadOnlyList<MethodSummary> SummarizeByMethod(IExplanationResultStore results, IReadOnlyCollection<NeuronId> neurons) =>
        RunSummary.ByMethod(results, neurons, Explainer.Name, Simulator.Name, [.. Scorers.SelectMany(s => s.Methods)]);

    /// <summary>Per layer, the share of value slots the simulator left without a value; null unless it can leave any (all-at-once).</summary>
    public IReadOnlyList<NoValueShare>? NoValueShares(IExplanationResultStore results, IReadOnlyCollection<NeuronId> neurons) =>
        Simulator is AllAtOnceSimulator ? RunSummary.NoValueShares(results, neurons, Explainer.Name, Simulator.Name) : null;

    public void Dispose()
    {
        if (ownsLlm) llm?.Dispose();
    }

    ExplanationFlowOptions FlowOptions() => new(settings.Samples, settings.Revisions, BootstrapSeed: settings.Seed, Scorers: Scorers, Protocol: Protocol);

    /// <summary>Each neuron's chosen explanation by <paramref name="explainer"/> (done results; of any simulator when null).</summary>
    static Dictionary<NeuronId, string> Chosen(IExplanationResultStore results, IReadOnlyList<NeuronId> neurons, string explainer, string? simulator)
    {
        var selected = neurons.ToHashSet();
        return neurons.Select(n => n.LayerIndex).Distinct()
            .SelectMany(layer => results.ListScores(layer))
            .Where(s => selected.Contains(s.Neuron) && s.Control == ControlKind.None && s.Explainer == explainer
                && (simulator is null || s.Simulator == simulator) && s is { Status: NeuronStatus.Done, Explanation: not null })
            .GroupBy(s => s.Neuron)
            .ToDictionary(g => g.Key, g => g.First().Explanation!);
    }

    static void Require(bool ok, string setting, string problem)
    {
        if (!ok) throw SettingException.Of<ExplanationSettings>(setting, problem);
    }
}
