using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Storage;

/// <summary>What an import or export moved.</summary>
public sealed record DatasetTransferSummary(int Neurons, int NeuronRecords, int ExplanationResults, int ActivationBasedTokens,
    int WeightBasedTokens, int Connections);

/// <summary>Which results an export writes, and whether it keeps our additions to OpenAI's fields.</summary>
/// <param name="Explainer">Only explanations of this explainer (all when null).</param>
/// <param name="Simulator">Only explanations scored with this simulator (all when null).</param>
/// <param name="Layers">Only neurons of these layers (all when null).</param>
/// <param name="Kind">Only units of this kind (<c>neuron</c>, <c>head</c>, <c>sae</c> or <c>sae:ID</c>; all when null).</param>
/// <param name="OpenAiFieldsOnly">
/// Drop fields OpenAI's dataclasses lack (<c>undefined_reason</c>, <c>ev_correlation_ci</c>, <c>counts</c>,
/// <c>simulation_method</c>...): their Python loader refuses unknown fields. Such an export is not lossless.
/// </param>
public sealed record ExportOptions(string? Explainer = null, string? Simulator = null, bool OpenAiFieldsOnly = false, IReadOnlySet<int>? Layers = null,
    string? Kind = null);

/// <summary>
/// OpenAI's public neuron dataset layout: one JSON file per neuron and kind under
/// <c>{kind}/{layer}/{neuron}.json</c> (explanations as <c>.jsonl</c>, one <see cref="NeuronSimulationResults"/>
/// per line), with the same field names as their files, so their published data imports unchanged and
/// our runs can be read by their tools. Their layout knows MLP neurons only; units of other kinds are written beside them
/// under <c>{kind}/head/{layer}/{head}.json</c> and <c>{kind}/sae/{sae_id}/{layer}/{latent}.json</c>, their
/// <c>neuron_id</c> fields carrying <c>unit_kind</c> (and <c>sae_id</c>), so an export of ours reads back whole.
/// </summary>
public static class OpenAiDataset
{
    public const string CollatedActivations = "collated-activations";
    public const string Explanations = "explanations";
    public const string ActivationBasedTokens = "related-tokens/activation-based";
    public const string WeightBasedTokens = "related-tokens/weight-based";
    public const string RelatedNeurons = "related-neurons/weight-based";

    static readonly string[] Kinds = [CollatedActivations, Explanations, ActivationBasedTokens, WeightBasedTokens, RelatedNeurons];

    /// <summary>Called after each neuron with (neurons done, neurons in all).</summary>
    public delegate void Progress(int done, int total);

    /// <summary>
    /// Writes every neuron of the store to <paramref name="outputDirectory"/>, which must not exist or be
    /// empty. Files are written to a sibling staging directory that is renamed into place at the end, so
    /// a failed export leaves no half-written tree. OpenAI's loaders expect one line per explanations
    /// file, so the scored explanations of all of a neuron's results (those of one explainer and/or
    /// simulator when given) are joined into that line, in the order the results were first stored;
    /// failed results have nothing to write.
    /// </summary>
    public static DatasetTransferSummary Export(INeuronStore store, string outputDirectory, ExportOptions? options = null, Progress? progress = null)
    {
        options ??= new ExportOptions();
        string target = Path.GetFullPath(outputDirectory);
        if (File.Exists(target) || (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any()))
            throw new NeuronExplainerException($"export target '{outputDirectory}' already exists and is not empty; choose a new directory");
        string staging = $"{target.TrimEnd(Path.DirectorySeparatorChar)}.partial-{Environment.ProcessId}";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);

        if (options.Kind is { } asked && !NeuronId.IsKindFilter(asked))
            throw SettingException.Of<ExportOptions>(nameof(ExportOptions.Kind), $"is '{asked}'; expected neuron, head, sae or sae:ID");
        var neurons = store.ListNeurons().Where(n => (options.Layers?.Contains(n.LayerIndex) ?? true) && (options.Kind is not { } k || n.IsOfKind(k))).ToList();
        // OpenAI's dataclasses have no unit kind: a head or latent written with their fields only would read back as a neuron.
        if (options.OpenAiFieldsOnly && neurons.FirstOrDefault(n => n.Kind != UnitKind.Neuron) is { } other)
            throw SettingException.Of<ExportOptions>(nameof(ExportOptions.OpenAiFieldsOnly),
                $"writes OpenAI's dataset layout, which holds MLP neurons only, but the units to export include {NeuronId.Prefix(other.Kind)} units such as {other}; export only the neurons (ExportOptions.Kind neuron), or keep our fields");
        int records = 0, results = 0, activationTokens = 0, weightTokens = 0, connections = 0;
        try
        {
            for (int i = 0; i < neurons.Count; i++)
            {
                var id = neurons[i];
                if (store.GetNeuronRecord(id) is { } record)
                    records += Write(FilePath(staging, CollatedActivations, id, ".json"), record, DatasetJson.Default.NeuronRecord, options);
                var chosen = store.GetExplanationResults(id)
                    .Where(r => r.Results is not null && (options.Explainer ?? r.Explainer) == r.Explainer && (options.Simulator ?? r.Simulator) == r.Simulator)
                    .ToList();
                if (chosen.Count > 0)
                {
                    var line = new NeuronSimulationResults(id, [.. chosen.SelectMany(r => r.Results!.ScoredExplanations)]);
                    WriteNode(FilePath(staging, Explanations, id, ".jsonl"), WithMethodScores(line, chosen), options);
                    results += chosen.Count;
                }
                if (store.GetActivationBasedTokens(id) is { } table)
                    activationTokens += Write(FilePath(staging, ActivationBasedTokens, id, ".json"), table, DatasetJson.Default.TokenLookupTableSummaryOfNeuron, options);
                if (store.GetWeightBasedTokens(id) is { } summary)
                    weightTokens += Write(FilePath(staging, WeightBasedTokens, id, ".json"), summary, DatasetJson.Default.WeightBasedSummaryOfNeuron, options);
                if (store.GetConnections(id) is { } related)
                    connections += Write(FilePath(staging, RelatedNeurons, id, ".json"), related, DatasetJson.Default.NeuronConnections, options);
                progress?.Invoke(i + 1, neurons.Count);
            }
            Directory.CreateDirectory(staging);
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
        return new DatasetTransferSummary(neurons.Count, records, results, activationTokens, weightTokens, connections);
    }

    /// <summary>
    /// Reads a tree in OpenAI's layout into the store as one transaction: a bad file (malformed JSON,
    /// an unknown <c>dataclass_name</c>, tokens and activations that differ in length, NaN) fails the whole
    /// import with the file named, and the store keeps exactly what it had. The layout has no explainer
    /// names, so the results of line k of an explanations file are stored under explainer and simulator
    /// <paramref name="source"/> (line 1) or <c>source-k</c>; the best-scoring explanation is chosen.
    /// Another dataset is never mixed in silently: unless <paramref name="replace"/>, the import is refused before any
    /// write when it would replace anything the store holds, bring records into a store holding a collection, or
    /// bring explanations of neurons that collection lacks (see <see cref="RefuseMixing"/>).
    /// </summary>
    /// <summary>What to do when an import is refused for mixing; a front end may say it with its own options (CLI flags).</summary>
    public const string ReplaceAdvice = "import into another store, or import with replace set to import anyway (replacing what the store holds)";

    public static DatasetTransferSummary Import(string inputDirectory, INeuronStore store, string source = "openai", Progress? progress = null,
        bool replace = false)
    {
        if (!Directory.Exists(inputDirectory))
            throw new NeuronExplainerException($"import source '{inputDirectory}' is not a directory");
        var files = Kinds.SelectMany(kind => FindFiles(inputDirectory, kind)).ToList();
        if (files.Count == 0)
            throw new NeuronExplainerException(
                $"no OpenAI dataset files in '{inputDirectory}': expected {{kind}}/{{layer}}/{{neuron}}.json under {string.Join(", ", Kinds)}");
        if (!replace) RefuseMixing(store, files, source);
        var byNeuron = files.GroupBy(f => f.Neuron).OrderBy(g => g.Key.LayerIndex).ThenBy(g => g.Key.NeuronIndex).ToList();

        int records = 0, results = 0, activationTokens = 0, weightTokens = 0, connections = 0, done = 0;
        var importedAt = DateTimeOffset.UtcNow;
        store.Batch(() =>
        {
            foreach (var neuron in byNeuron)
            {
                foreach (var (kind, id, path) in neuron)
                {
                    switch (kind)
                    {
                        case CollatedActivations:
                            var record = Read(path, DatasetJson.Default.NeuronRecord);
                            if (record.NeuronId != id || record.NeuronId.LayerIndex != id.LayerIndex)
                                throw new NeuronExplainerException($"{path}: neuron_id is {Placed(record.NeuronId)} but the path says {Placed(id)}");
                            store.PutNeuronRecords([record]);
                            records++;
                            break;
                        case Explanations:
                            var lines = ReadLines(path, id);
                            for (int k = 0; k < lines.Count; k++)
                            {
                                string name = k == 0 ? source : $"{source}-{k + 1}";
                                store.PutExplanationResult(new NeuronExplanationResult(id, name, name, NeuronStatus.Done, null, lines[k], Best(lines[k]), importedAt));
                            }
                            results += lines.Count;
                            break;
                        case ActivationBasedTokens:
                            store.PutActivationBasedTokens(id, Read(path, DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
                            activationTokens++;
                            break;
                        case WeightBasedTokens:
                            store.PutWeightBasedTokens(id, Read(path, DatasetJson.Default.WeightBasedSummaryOfNeuron));
                            weightTokens++;
                            break;
                        default:
                            store.PutConnections(id, Read(path, DatasetJson.Default.NeuronConnections));
                            connections++;
                            break;
                    }
                }
                progress?.Invoke(++done, byNeuron.Count);
            }
        });
        return new DatasetTransferSummary(byNeuron.Count, records, results, activationTokens, weightTokens, connections);
    }

    /// <summary>
    /// Refuses an import that would mix another dataset into the store: records (collated activations, related tokens
    /// or neurons) into a store holding a collection of its own model; explanations of neurons that collection lacks;
    /// and anything replacing what the store holds (a record, table or connection list of the neuron, or explanations
    /// under <paramref name="source"/>). Explanations of the collection's neurons under a new source name are welcome.
    /// </summary>
    static void RefuseMixing(INeuronStore store, IEnumerable<(string Kind, NeuronId Neuron, string Path)> files, string source)
    {
        var collection = store.GetCollectionState() == CollectionState.None ? null : store.GetManifest();
        var known = store.ListNeurons().ToHashSet();
        var explained = store.ListScores().Where(s => s.Explainer == source).Select(s => s.Neuron).ToHashSet();
        bool Holds(string kind, NeuronId id) => known.Contains(id) && kind switch
        {
            CollatedActivations => store.GetNeuronRecord(id) is not null,
            ActivationBasedTokens => store.GetActivationBasedTokens(id) is not null,
            WeightBasedTokens => store.GetWeightBasedTokens(id) is not null,
            _ => store.GetConnections(id) is not null,
        };
        foreach (var (kind, id, path) in files)
        {
            string? problem = kind switch
            {
                Explanations when collection is not null && !known.Contains(id) =>
                    $"neuron {id} is not one of the {known.Count} neurons the store collected from {collection.Model}",
                Explanations when explained.Contains(id) => $"the store already holds explanations of neuron {id} under '{source}'; import under another OpenAiDataset.Import.source",
                Explanations => null,
                _ when collection is not null => $"the store holds a collection of {collection.Model}, and records of another dataset would be mixed into it",
                _ when Holds(kind, id) => $"the store already holds the {kind} of neuron {id}",
                _ => null,
            };
            if (problem is not null)
                throw new NeuronExplainerException($"{path}: {problem}; {ReplaceAdvice}");
        }
    }

    /// <summary>A unit as an error names it: an SAE latent's spelling does not say its layer, so it is added.</summary>
    static string Placed(NeuronId id) => id.Kind == UnitKind.SaeLatent ? $"{id} at layer {id.LayerIndex}" : id.ToString();

    /// <summary>The explanation with the highest defined correlation, or null when none has one.</summary>
    static int? Best(NeuronSimulationResults results)
    {
        int? best = null;
        for (int i = 0; i < results.ScoredExplanations.Count; i++)
            if (results.ScoredExplanations[i].ScoredSimulation.EvCorrelationScore is double score
                && (best is not int b || score > results.ScoredExplanations[b].ScoredSimulation.EvCorrelationScore))
                best = i;
        return best;
    }

    static IEnumerable<(string Kind, NeuronId Neuron, string Path)> FindFiles(string root, string kind)
    {
        string directory = Path.Combine(root, kind);
        if (!Directory.Exists(directory)) yield break;
        foreach (string sub in Directory.EnumerateDirectories(directory))
        {
            var files = Path.GetFileName(sub) switch
            {
                "head" => Directory.EnumerateDirectories(sub).SelectMany(layer => FilesOfLayer(kind, layer, (l, i) => NeuronId.Head(l, i))),
                "sae" => Directory.EnumerateDirectories(sub).SelectMany(sae => Directory.EnumerateDirectories(sae).SelectMany(layer =>
                    FilesOfLayer(kind, layer, (l, i) => NeuronId.TryParse($"sae:{Path.GetFileName(sae)}/{i}") is { } latent ? latent with { LayerIndex = l }
                        : throw new NeuronExplainerException($"{sae}: expected a directory named by an SAE id (letters, digits, '.', '_', '-')")))),
                _ => FilesOfLayer(kind, sub, (l, i) => new NeuronId(l, i)),
            };
            foreach (var file in files) yield return file;
        }
    }

    /// <summary>The unit files of one layer directory (named by the layer's index) of section <paramref name="kind"/>.</summary>
    static IEnumerable<(string Kind, NeuronId Neuron, string Path)> FilesOfLayer(string kind, string layerDirectory, Func<int, int, NeuronId> unit)
    {
        string extension = kind == Explanations ? ".jsonl" : ".json";
        int layer = Index(Path.GetFileName(layerDirectory), layerDirectory, "a layer directory named by its index, such as 3 (or head/, sae/)");
        foreach (string file in Directory.EnumerateFiles(layerDirectory, "*" + extension))
        {
            int index = Index(Path.GetFileNameWithoutExtension(file), file, $"a file named by neuron index, such as 127{extension}");
            yield return (kind, unit(layer, index), file);
        }
    }

    static int Index(string name, string path, string expected) => int.TryParse(name, out int index) && index >= 0 && index.ToString() == name
        ? index
        : throw new NeuronExplainerException($"{path}: expected {expected}");

    static T Read<T>(string path, JsonTypeInfo<T> info) where T : class
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize(stream, info) ?? throw new JsonException("the file holds null; expected an object");
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw Invalid(path, null, e);
        }
    }

    static List<NeuronSimulationResults> ReadLines(string path, NeuronId id)
    {
        var results = new List<NeuronSimulationResults>();
        int number = 0;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var result = JsonSerializer.Deserialize(line, DatasetJson.Default.NeuronSimulationResults)
                    ?? throw new JsonException("the line holds null; expected an object");
                if (result.NeuronId != id)
                    throw new JsonException($"neuron_id is {result.NeuronId} but the path says {id}");
                results.Add(result);
            }
            catch (Exception e) when (e is JsonException or FormatException)
            {
                throw Invalid(path, number, e);
            }
        }
        return results;
    }

    static NeuronExplainerException Invalid(string path, int? line, Exception e)
    {
        var where = new List<string>();
        if (line is int l) where.Add($"line {l}");
        else if (e is JsonException { LineNumber: long jsonLine }) where.Add($"line {jsonLine + 1}");
        if (e is JsonException { BytePositionInLine: long column }) where.Add($"column {column + 1}");
        if (e is JsonException { Path: { Length: > 1 } field }) where.Add($"at {field}");
        string location = where.Count == 0 ? "" : $" ({string.Join(", ", where)})";
        // System.Text.Json repeats the location at the end of its own messages; it is given once, above.
        string message = e.Message.Split(" Path: ")[0];
        return new NeuronExplainerException($"{path}{location}: {message}", e);
    }

    static string FilePath(string root, string kind, NeuronId id, string extension)
    {
        string layer = id.LayerIndex.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string directory = id.Kind switch
        {
            UnitKind.Neuron => Path.Combine(root, kind, layer),
            UnitKind.AttentionHead => Path.Combine(root, kind, "head", layer),
            _ => Path.Combine(root, kind, "sae", id.Sae!, layer),
        };
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, id.NeuronIndex + extension);
    }

    /// <summary>Writes one JSON document and a newline (so a .jsonl file holds one complete line).</summary>
    static int Write<T>(string path, T value, JsonTypeInfo<T> info, ExportOptions options)
    {
        if (options.OpenAiFieldsOnly) return WriteNode(path, JsonSerializer.SerializeToNode(value, info)!, options);
        using var stream = File.Create(path);
        JsonSerializer.Serialize(stream, value, info);
        stream.WriteByte((byte)'\n');
        return 1;
    }

    static int WriteNode(string path, JsonNode node, ExportOptions options)
    {
        if (options.OpenAiFieldsOnly) KeepOpenAiFields(node);
        using var stream = File.Create(path);
        using (var writer = new Utf8JsonWriter(stream)) node.WriteTo(writer);
        stream.WriteByte((byte)'\n');
        return 1;
    }

    /// <summary>
    /// The explanations line with our addition <c>scores</c> on each result's chosen explanation: its score by every
    /// method (<c>method</c>, <c>score</c>, <c>undefined_reason</c>, <c>failed</c>, <c>details</c>); not read back by import.
    /// </summary>
    static JsonNode WithMethodScores(NeuronSimulationResults line, IReadOnlyList<NeuronExplanationResult> results)
    {
        var node = JsonSerializer.SerializeToNode(line, DatasetJson.Default.NeuronSimulationResults)!;
        var explanations = node["scored_explanations"]!.AsArray();
        int offset = 0;
        foreach (var result in results)
        {
            if (result is { ChosenIndex: int chosen, Scores.Count: > 0 })
                explanations[offset + chosen]!["scores"] = new JsonArray([.. result.Scores.Select(m => (JsonNode)new JsonObject
                {
                    ["method"] = m.Method,
                    ["score"] = m.Value,
                    ["undefined_reason"] = m.UndefinedReason,
                    ["failed"] = m.Failed,
                    ["details"] = m.Details is null ? null : JsonNode.Parse(m.Details),
                })]);
            offset += result.Results!.ScoredExplanations.Count;
        }
        return node;
    }

    /// <summary>The fields of OpenAI's dataclasses, by <c>dataclass_name</c> (from their published code).</summary>
    static readonly Dictionary<string, HashSet<string>> OpenAiFields = new()
    {
        ["NeuronId"] = ["layer_index", "neuron_index"],
        ["ActivationRecord"] = ["tokens", "activations"],
        ["NeuronRecord"] = ["neuron_id", "random_sample", "random_sample_by_quantile", "quantile_boundaries", "mean", "variance",
            "skewness", "kurtosis", "most_positive_activation_records"],
        ["SequenceSimulation"] = ["tokens", "expected_activations", "activation_scale", "distribution_values",
            "distribution_probabilities", "uncalibrated_simulation"],
        ["ScoredSequenceSimulation"] = ["simulation", "true_activations", "ev_correlation_score", "rsquared_score", "absolute_dev_explained_score"],
        ["ScoredSimulation"] = ["scored_sequence_simulations", "ev_correlation_score", "rsquared_score", "absolute_dev_explained_score"],
        ["ScoredExplanation"] = ["explanation", "scored_simulation"],
        ["NeuronSimulationResults"] = ["neuron_id", "scored_explanations"],
        ["TokenLookupTableSummaryOfNeuron"] = ["tokens", "average_activations"],
        ["TokensAndWeights"] = ["tokens", "strengths"],
        ["WeightBasedSummaryOfNeuron"] = ["input_positive", "input_negative", "output_positive", "output_negative"],
    };

    /// <summary>Removes, at every depth, the fields of tagged objects that OpenAI's dataclass of that name lacks.</summary>
    static void KeepOpenAiFields(JsonNode? node)
    {
        switch (node)
        {
            case JsonArray array:
                foreach (var item in array) KeepOpenAiFields(item);
                break;
            case JsonObject obj:
                if (obj["dataclass_name"]?.GetValue<string>() is { } name && OpenAiFields.TryGetValue(name, out var fields))
                    foreach (string key in obj.Select(p => p.Key).Where(k => k != "dataclass_name" && !fields.Contains(k)).ToList())
                        obj.Remove(key);
                foreach (var (_, child) in obj) KeepOpenAiFields(child);
                break;
        }
    }
}
