using System.CommandLine;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// The options shared by <c>explain</c>, <c>score</c> and <c>run</c>, parsed into the library's <see cref="ExplanationSettings"/>
/// and neuron selection.
/// </summary>
internal sealed class ExplanationOptions
{
    public const string Baseline = BaselineExplainer.BaselineName;

    public readonly Option<string> Store = new("--store")
    {
        Description = "Run directory holding store.db, or postgresql://user@host:port/database?schema=NAME (password from PGPASSWORD or ~/.pgpass)",
        Required = true,
    };
    public readonly Option<string> Layers = new("--layers") { Description = "Layers: all, or a list such as 0,3-5", DefaultValueFactory = _ => "all" };
    public readonly Option<string> Neurons = new("--neurons")
    {
        Description = "Units of each layer: all, indices such as 0-99,120 (of every kind), or units such as 3/127,head:2/5,sae:res-jb-8/1234",
        DefaultValueFactory = _ => "all",
    };
    public readonly Option<string> Explainer = new("--explainer") { Description = "baseline (offline), or the LLM model that writes explanations", DefaultValueFactory = _ => Baseline };
    public readonly Option<string> ExplainerMethod = new("--explainer-method")
    {
        Description = "LLM explainer: pairs (token/activation pairs, the paper's) or lookup-table (top tokens)",
        DefaultValueFactory = _ => "pairs",
    };
    public readonly Option<string> Simulator = new("--simulator") { Description = "baseline (offline), or the LLM model that simulates", DefaultValueFactory = _ => Baseline };
    public readonly Option<string?> SimulatorMethod = new("--simulator-method")
    {
        Description = "LLM simulator: chat (digit logprobs of a chat model) or all-at-once (prompt logprobs from a completions server with echo); " +
            "default chat, under --protocol paper all-at-once where the server echoes prompt logprobs, else chat",
    };
    public readonly Option<string> Protocol = new("--protocol")
    {
        Description = "ours (every excerpt of each split) or paper (OpenAI's: 5 top train excerpts to explain, 5 top + 5 random to calibrate " +
            "and to score, all-at-once simulation where the server can); a store keeps the protocol of its first run and refuses another",
        DefaultValueFactory = _ => ExplanationProtocol.Ours.Name,
    };
    public readonly Option<string> BaseUrl = new("--base-url") { Description = "OpenAI-compatible API root", DefaultValueFactory = _ => LlmEndpoint.OpenAiBaseUrl.ToString() };
    public readonly Option<string> ApiKeyEnv = new("--api-key-env") { Description = "Environment variable holding the API key", DefaultValueFactory = _ => LlmEndpoint.DefaultApiKeyEnv };
    public readonly Option<string?> Prices = new("--prices") { Description = "JSON price table (USD per million tokens per model)" };
    public readonly Option<int> Samples = new("--samples") { Description = "Explanations per neuron; the best on the calibration split is kept", DefaultValueFactory = _ => 1 };
    public readonly Option<int> Revise = new("--revise") { Description = "Revision rounds against the worst calibration excerpts", DefaultValueFactory = _ => 0 };
    public readonly Option<decimal?> MaxCost = new("--max-cost") { Description = "Stop before LLM calls could cost more than this many US dollars" };
    public readonly Option<int> Concurrency = new("--concurrency") { Description = "Neurons (and LLM calls) worked on at once", DefaultValueFactory = _ => 4 };
    public readonly Option<double> Lease = new("--lease")
    {
        Description = "Seconds a worker's claim on a neuron lasts unless renewed (every quarter of it); a killed worker's neurons are taken over after this",
        DefaultValueFactory = _ => ExplanationRunner.DefaultClaimLease.TotalSeconds,
    };
    public readonly Option<bool> DryRun = new("--dry-run") { Description = "Estimate calls, tokens and cost without calling or storing anything" };
    public readonly Option<string> Scorers = new("--scorers")
    {
        Description = "Scorers of the chosen explanation, comma-separated: simulation, detection, fuzzing (offline with the baseline simulator, else asking its LLM), ablation (runs the store's model)",
        DefaultValueFactory = _ => SimulationCorrelationScorer.Name,
    };
    public readonly Option<int> Seed = new("--scoring-seed") { Description = "Seed of bootstrap intervals and the shuffled control", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Store, Layers, Neurons, Explainer, ExplainerMethod, Simulator, SimulatorMethod, BaseUrl, ApiKeyEnv,
                     Prices, Samples, Revise, MaxCost, Concurrency, Lease, DryRun, Scorers, Seed, Protocol })
            command.Options.Add(option);
    }

    /// <summary>The settings these options give, with <paramref name="control"/> after scoring.</summary>
    public ExplanationSettings Settings(ParseResult parse, ControlKind control = ControlKind.None) => new()
    {
        Explainer = parse.GetValue(Explainer)!,
        ExplainerMethod = parse.GetValue(ExplainerMethod)!,
        Simulator = parse.GetValue(Simulator)!,
        SimulatorMethod = parse.GetValue(SimulatorMethod),
        Protocol = parse.GetValue(Protocol)!,
        BaseUrl = parse.GetValue(BaseUrl)!,
        ApiKeyEnv = parse.GetValue(ApiKeyEnv)!,
        PricesFile = parse.GetValue(Prices),
        Samples = parse.GetValue(Samples),
        Revisions = parse.GetValue(Revise),
        MaxCost = parse.GetValue(MaxCost),
        Concurrency = parse.GetValue(Concurrency),
        ClaimLease = TimeSpan.FromSeconds(parse.GetValue(Lease)),
        DryRun = parse.GetValue(DryRun),
        Seed = parse.GetValue(Seed),
        Control = control,
        Scorers = [.. parse.GetValue(Scorers)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)],
    };

    /// <summary>The neurons of <paramref name="store"/> that <c>--layers</c> and <c>--neurons</c> select for the session; none is an error naming what exists.</summary>
    public IReadOnlyList<NeuronId> SelectNeurons(ParseResult parse, ICollectionOutput store, ExplanationSession session)
    {
        var layers = IndexList.Parse(parse.GetValue(Layers)!, "--layers");
        string text = parse.GetValue(Neurons)!;
        IReadOnlyList<NeuronId> selected;
        if (text.Contains('/', StringComparison.Ordinal))
        {
            var units = Units(text);
            var all = store.ListNeurons();
            // A unit the store does not hold (a head index past the layer's heads, say) is named, not silently dropped.
            if (units.FirstOrDefault(u => !all.Contains(u)) is { } missing) throw new SettingException("--neurons", Missing(all, missing));
            selected = [.. session.SelectNeurons(store, layers, null).Intersect(units)];
        }
        else selected = session.SelectNeurons(store, layers, IndexList.Parse(text, "--neurons"));
        if (selected.Count == 0)
            throw new NeuronExplainerException(
                $"--layers {parse.GetValue(Layers)} --neurons {parse.GetValue(Neurons)} selects none of the store's neurons (layers {string.Join(",", store.ListLayers())}, up to {store.ListNeurons().Max(n => n.NeuronIndex) + 1} neurons per layer)");
        return selected;
    }

    /// <summary>Why <paramref name="unit"/> is not among a store's <paramref name="units"/>: what its kind and layer hold instead.</summary>
    internal static string Missing(IReadOnlyList<NeuronId> units, NeuronId unit)
    {
        var kind = units.Where(u => u.KindKey == unit.KindKey).ToList();
        if (kind.Count == 0)
            return $"{unit} is not in the store, which holds no units of kind {unit.KindKey} (it holds {string.Join(", ", units.Select(u => u.KindKey).Distinct().DefaultIfEmpty("none"))})";
        var layer = kind.Where(u => u.LayerIndex == unit.LayerIndex).Select(u => u.NeuronIndex).ToList();
        string what = unit.Kind == UnitKind.AttentionHead ? "heads" : "units";
        return layer.Count == 0
            ? $"{unit} is not in the store: its {unit.KindKey} units are in layers {string.Join(",", kind.Select(u => u.LayerIndex).Distinct().Order())}"
            : $"{unit} is out of range: layer {unit.LayerIndex} has {what} {layer.Min()}-{layer.Max()} in the store";
    }

    /// <summary>Units in their printed form, comma-separated.</summary>
    static HashSet<NeuronId> Units(string text) =>
    [
        .. text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(unit =>
            NeuronId.TryParse(unit) ?? throw new SettingException("--neurons", $"'{unit}' is not a unit; expected LAYER/NEURON such as 3/127, head:LAYER/HEAD or sae:SAE_ID/LATENT")),
    ];
}
