using System.CommandLine;
using System.Globalization;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// The options shared by <c>explain</c>, <c>score</c> and <c>run</c>, and what they build: the neuron selection, the
/// explainer/simulator pair (the offline baseline, or LLMs behind one checked connection) and the per-neuron flow.
/// </summary>
internal sealed class ExplanationOptions
{
    public const string Baseline = BaselineExplainer.BaselineName;

    public readonly Option<string> Store = new("--store") { Description = "Run directory holding store.db", Required = true };
    public readonly Option<string> Layers = new("--layers") { Description = "Layers: all, or a list such as 0,3-5", DefaultValueFactory = _ => "all" };
    public readonly Option<string> Neurons = new("--neurons") { Description = "Neurons of each layer: all, or a list such as 0-99,120", DefaultValueFactory = _ => "all" };
    public readonly Option<string> Explainer = new("--explainer") { Description = "baseline (offline), or the LLM model that writes explanations", DefaultValueFactory = _ => Baseline };
    public readonly Option<string> ExplainerMethod = new("--explainer-method")
    {
        Description = "LLM explainer: pairs (token/activation pairs, the paper's) or lookup-table (top tokens)",
        DefaultValueFactory = _ => "pairs",
    };
    public readonly Option<string> Simulator = new("--simulator") { Description = "baseline (offline), or the LLM model that simulates", DefaultValueFactory = _ => Baseline };
    public readonly Option<string> SimulatorMethod = new("--simulator-method")
    {
        Description = "LLM simulator: chat (digit logprobs of a chat model) or all-at-once (prompt logprobs from a completions server with echo)",
        DefaultValueFactory = _ => "chat",
    };
    public readonly Option<string> BaseUrl = new("--base-url") { Description = "OpenAI-compatible API root", DefaultValueFactory = _ => LlmEndpoint.OpenAiBaseUrl.ToString() };
    public readonly Option<string> ApiKeyEnv = new("--api-key-env") { Description = "Environment variable holding the API key", DefaultValueFactory = _ => LlmEndpoint.DefaultApiKeyEnv };
    public readonly Option<string?> Prices = new("--prices") { Description = "JSON price table (USD per million tokens per model)" };
    public readonly Option<int> Samples = new("--samples") { Description = "Explanations per neuron; the best on the calibration split is kept", DefaultValueFactory = _ => 1 };
    public readonly Option<int> Revise = new("--revise") { Description = "Revision rounds against the worst calibration excerpts", DefaultValueFactory = _ => 0 };
    public readonly Option<decimal?> MaxCost = new("--max-cost") { Description = "Stop before LLM calls could cost more than this many US dollars" };
    public readonly Option<int> Concurrency = new("--concurrency") { Description = "Neurons (and LLM calls) worked on at once", DefaultValueFactory = _ => 4 };
    public readonly Option<bool> DryRun = new("--dry-run") { Description = "Estimate calls, tokens and cost without calling or storing anything" };
    public readonly Option<int> Seed = new("--scoring-seed") { Description = "Seed of bootstrap intervals and the shuffled control", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Store, Layers, Neurons, Explainer, ExplainerMethod, Simulator, SimulatorMethod, BaseUrl, ApiKeyEnv,
                     Prices, Samples, Revise, MaxCost, Concurrency, DryRun, Seed })
            command.Options.Add(option);
    }

    /// <summary>The selected neurons of the store, in layer/neuron order; an empty selection is an error naming what exists.</summary>
    public IReadOnlyList<NeuronId> SelectNeurons(ParseResult parse, INeuronRecordStore store)
    {
        var all = store.ListNeurons();
        if (all.Count == 0)
            throw new NeuronExplainerException($"store {store.Location} holds no neuron records; run collect (or run) first");
        var layers = IndexList.Parse(parse.GetValue(Layers)!, "--layers");
        var neurons = IndexList.Parse(parse.GetValue(Neurons)!, "--neurons");
        var selected = all.Where(n => (layers is null || layers.Contains(n.LayerIndex)) && (neurons is null || neurons.Contains(n.NeuronIndex))).ToList();
        if (selected.Count == 0)
            throw new NeuronExplainerException(
                $"--layers {parse.GetValue(Layers)} --neurons {parse.GetValue(Neurons)} selects none of the store's neurons (layers {string.Join(",", store.ListLayers())}, up to {all.Max(n => n.NeuronIndex) + 1} neurons per layer)");
        return selected;
    }

    /// <summary>Checks the numbers and the pairing, then connects to the LLM server when one is named (one clear error before any work).</summary>
    public async Task<ExplanationSetup> SetUpAsync(ParseResult parse, INeuronStore store, CancellationToken cancellationToken)
    {
        int samples = parse.GetValue(Samples), revise = parse.GetValue(Revise), concurrency = parse.GetValue(Concurrency);
        if (samples is < 1 or > 20) throw new NeuronExplainerException($"--samples must be between 1 and 20, got {samples}");
        if (revise is < 0 or > 10) throw new NeuronExplainerException($"--revise must be between 0 and 10, got {revise}");
        if (concurrency is < 1 or > 256) throw new NeuronExplainerException($"--concurrency must be between 1 and 256, got {concurrency}");
        string explainerModel = parse.GetValue(Explainer)!, simulatorModel = parse.GetValue(Simulator)!;
        bool dryRun = parse.GetValue(DryRun);
        if (simulatorModel == Baseline && explainerModel != Baseline)
            throw new NeuronExplainerException($"--simulator baseline reads only baseline explanations, not those of --explainer {explainerModel}; name an LLM simulator");

        var explainerStyle = parse.GetValue(ExplainerMethod) switch
        {
            "pairs" => ExplainerStyle.TokenActivationPair,
            "lookup-table" => ExplainerStyle.TokenLookupTable,
            var other => throw new NeuronExplainerException($"--explainer-method '{other}' is not known; expected pairs or lookup-table"),
        };
        string simulatorMethod = parse.GetValue(SimulatorMethod)!;
        if (simulatorMethod is not ("chat" or "all-at-once"))
            throw new NeuronExplainerException($"--simulator-method '{simulatorMethod}' is not known; expected chat or all-at-once");

        LlmPipeline? llm = null;
        var models = new[] { explainerModel, simulatorModel }.Where(m => m != Baseline).Distinct().ToList();
        if (models.Count > 0)
        {
            if (!Uri.TryCreate(parse.GetValue(BaseUrl), UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
                throw new NeuronExplainerException($"--base-url '{parse.GetValue(BaseUrl)}' is not an http(s) URL such as http://localhost:8000/v1");
            var prices = parse.GetValue(Prices) is { } path ? PriceTable.Load(path) : PriceTable.Default;
            var options = new LlmPipelineOptions { MaxCost = parse.GetValue(MaxCost), Concurrency = concurrency, DryRun = dryRun };
            llm = await LlmPipeline.ConnectAsync(new LlmEndpoint(baseUrl, parse.GetValue(ApiKeyEnv)!), models, options, prices, store, cancellationToken);
        }

        IExplainer explainer = explainerModel == Baseline ? new BaselineExplainer() : new LlmExplainer(llm!, explainerModel, explainerStyle);
        ISimulator simulator = simulatorModel == Baseline ? new BaselineSimulator()
            : simulatorMethod == "chat" ? new ChatSimulator(llm!, simulatorModel) : new AllAtOnceSimulator(llm!, simulatorModel);
        if (dryRun) (explainer, simulator) = (new DryRunExplainer(explainer), new DryRunSimulator(simulator));
        var flowOptions = new ExplanationFlowOptions(samples, revise, BootstrapSeed: parse.GetValue(Seed));
        return new ExplanationSetup(explainer, simulator, flowOptions, llm, concurrency, dryRun, parse.GetValue(Seed));
    }
}

/// <summary>The explainer/simulator pair of one invocation and the LLM connection they share (if any).</summary>
internal sealed record ExplanationSetup(IExplainer Explainer, ISimulator Simulator, ExplanationFlowOptions FlowOptions, LlmPipeline? Llm,
    int Concurrency, bool DryRun, int Seed) : IDisposable
{
    public ExplanationFlow Flow => new(Explainer, Simulator, FlowOptions);

    public void Dispose() => Llm?.Dispose();
}
