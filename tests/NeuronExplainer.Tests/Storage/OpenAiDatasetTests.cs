using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Scoring;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Storage;

public class OpenAiDatasetTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Records_read_from_json_equal_records_built_in_code()
    {
        var read = JsonSerializer.Deserialize("{\"dataclass_name\": \"NeuronId\", \"layer_index\": 3, \"neuron_index\": 9}", DatasetJson.Default.NeuronId);
        Assert.Equal(new NeuronId(3, 9), read);
        Assert.Equal(new NeuronId(3, 9).GetHashCode(), read!.GetHashCode());
    }

    [Fact]
    public void OpenAI_files_import_and_export_back_equal_as_json()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        var imported = OpenAiDataset.Import(StoreFixtures.OpenAiLayout, store);
        Assert.Equal(new DatasetTransferSummary(Neurons: 2, NeuronRecords: 1, ExplanationResults: 2, ActivationBasedTokens: 1,
            WeightBasedTokens: 1, Connections: 2), imported);

        var record = store.GetNeuronRecord(new NeuronId(0, 5))!;
        Assert.Null(record.Skewness);
        Assert.Equal(2.75, record.MaxActivation);
        var result = Assert.Single(store.GetExplanationResults(new NeuronId(1, 2)));
        Assert.Equal(("openai", "openai", 1), (result.Explainer, result.Simulator, result.ChosenIndex));
        Assert.Equal("punctuation at the end of a list", Assert.Single(store.ListScores(1)).Explanation);

        var exported = OpenAiDataset.Export(store, temp.Sub("out"));
        Assert.Equal(imported, exported);
        StoreFixtures.AssertSameJson(StoreFixtures.OpenAiLayout, temp.Sub("out"));
    }

    [Fact]
    public void Export_import_export_is_lossless_for_our_own_runs()
    {
        using (var store = SqliteNeuronStore.Open(temp.Sub("a")))
        {
            for (int neuron = 0; neuron < 3; neuron++)
            {
                var id = new NeuronId(1, neuron);
                store.PutNeuronRecords([StoreFixtures.Record(1, neuron)]);
                store.PutExplanationResult(StoreFixtures.Done(id, "baseline", $"explanation {neuron}", "another try"));
                store.PutActivationBasedTokens(id, StoreFixtures.ActivationTokens());
                store.PutWeightBasedTokens(id, StoreFixtures.WeightTokens());
                store.PutConnections(id, StoreFixtures.Connections(1));
            }
            OpenAiDataset.Export(store, temp.Sub("first"));
        }
        using (var store = SqliteNeuronStore.Open(temp.Sub("b")))
        {
            OpenAiDataset.Import(temp.Sub("first"), store);
            OpenAiDataset.Export(store, temp.Sub("second"));
        }
        Assert.Equal(15, StoreFixtures.ReadTree(temp.Sub("first")).Count);
        StoreFixtures.AssertSameJson(temp.Sub("first"), temp.Sub("second"));
        // Our additions (bootstrap interval, token counts) survive the trip.
        Assert.Contains("ev_correlation_ci", File.ReadAllText(Path.Combine(temp.Sub("second"), "explanations", "1", "0.jsonl")));
        Assert.Contains("\"ev_correlation_score_top_only\":0.25", File.ReadAllText(Path.Combine(temp.Sub("second"), "explanations", "1", "0.jsonl")));
        Assert.Contains("counts", File.ReadAllText(Path.Combine(temp.Sub("second"), "related-tokens", "activation-based", "1", "0.json")));
    }

    [Fact]
    public void Heads_and_sae_latents_export_beside_the_neurons_by_kind_and_import_back_whole()
    {
        NeuronId[] units = [new(1, 2), NeuronId.Head(1, 2), NeuronId.Latent("res-jb-1", 1, 2)];
        using (var store = SqliteNeuronStore.Open(temp.Sub("a")))
        {
            foreach (var unit in units)
            {
                store.PutNeuronRecords([StoreFixtures.Record(1, 2) with { NeuronId = unit }]);
                store.PutExplanationResult(StoreFixtures.Done(unit, "baseline", $"explanation of {unit}"));
                store.PutActivationBasedTokens(unit, StoreFixtures.ActivationTokens());
            }
            var summary = OpenAiDataset.Export(store, temp.Sub("first"));
            Assert.Equal((3, 3, 3), (summary.Neurons, summary.NeuronRecords, summary.ExplanationResults));

            Assert.Equal(1, OpenAiDataset.Export(store, temp.Sub("heads"), new ExportOptions(Kind: "head")).Neurons);
            Assert.True(File.Exists(Path.Combine(temp.Sub("heads"), OpenAiDataset.CollatedActivations, "head", "1", "2.json")));
            Assert.Equal(1, OpenAiDataset.Export(store, temp.Sub("latents"), new ExportOptions(Kind: "sae:res-jb-1")).Neurons);
            Assert.Equal(0, OpenAiDataset.Export(store, temp.Sub("none"), new ExportOptions(Kind: "sae:other")).Neurons);
            var refused = Assert.Throws<SettingException>(() => OpenAiDataset.Export(store, temp.Sub("openai"), new ExportOptions(OpenAiFieldsOnly: true)));
            Assert.Contains("holds MLP neurons only", refused.Message);
            Assert.False(Directory.Exists(temp.Sub("openai")));
            Assert.Equal(1, OpenAiDataset.Export(store, temp.Sub("openai"), new ExportOptions(OpenAiFieldsOnly: true, Kind: "neuron")).Neurons);
            Assert.Throws<SettingException>(() => OpenAiDataset.Export(store, temp.Sub("bad-kind"), new ExportOptions(Kind: "mlp")));
        }
        foreach (var (section, extension) in new[] { (OpenAiDataset.CollatedActivations, ".json"), (OpenAiDataset.Explanations, ".jsonl"), (OpenAiDataset.ActivationBasedTokens, ".json") })
            Assert.Equal([$"1/2{extension}", $"head/1/2{extension}", $"sae/res-jb-1/1/2{extension}"],
                Directory.EnumerateFiles(Path.Combine(temp.Sub("first"), section), "*", SearchOption.AllDirectories)
                    .Select(f => Path.GetRelativePath(Path.Combine(temp.Sub("first"), section), f)).Order(StringComparer.Ordinal));
        using (var store = SqliteNeuronStore.Open(temp.Sub("b")))
        {
            Assert.Equal(3, OpenAiDataset.Import(temp.Sub("first"), store).Neurons);
            Assert.Equal(units.OrderBy(u => u.KindKey, StringComparer.Ordinal), store.ListNeurons());
            foreach (var unit in units)
            {
                Assert.Equal((unit, 1), (store.GetNeuronRecord(unit)!.NeuronId, store.GetNeuronRecord(unit)!.NeuronId.LayerIndex));
                Assert.Equal($"explanation of {unit}", store.GetExplanationResult(unit, "openai", "openai")!.Results!.ScoredExplanations[0].Explanation);
                Assert.NotNull(store.GetActivationBasedTokens(unit));
            }
            OpenAiDataset.Export(store, temp.Sub("second"));
        }
        StoreFixtures.AssertSameJson(temp.Sub("first"), temp.Sub("second"));
    }

    [Fact]
    public void Export_joins_results_into_one_line_and_filters_by_explainer()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        var id = new NeuronId(0, 1);
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "from the baseline"));
        store.PutExplanationResult(StoreFixtures.Done(id, "gpt", "from gpt"));
        store.PutExplanationResult(new NeuronExplanationResult(id, "broken", "broken", NeuronStatus.Failed, "timeout", null, null, DateTimeOffset.UnixEpoch));

        OpenAiDataset.Export(store, temp.Sub("all"));
        var line = Assert.Single(File.ReadAllLines(Path.Combine(temp.Sub("all"), "explanations", "0", "1.jsonl")));
        var all = JsonSerializer.Deserialize(line, DatasetJson.Default.NeuronSimulationResults)!;
        Assert.Equal(["from the baseline", "from gpt"], all.ScoredExplanations.Select(e => e.Explanation));

        OpenAiDataset.Export(store, temp.Sub("gpt"), new ExportOptions(Explainer: "gpt"));
        var only = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(temp.Sub("gpt"), "explanations", "0", "1.jsonl")), DatasetJson.Default.NeuronSimulationResults)!;
        Assert.Equal(["from gpt"], only.ScoredExplanations.Select(e => e.Explanation));
    }

    [Fact]
    public void Export_adds_each_results_method_scores_to_its_chosen_explanation_unless_only_OpenAI_fields_are_asked_for()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        var id = new NeuronId(0, 2);
        store.PutExplanationResult(StoreFixtures.Done(id, "gpt", "from gpt"));
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "first", "second") with
        {
            ChosenIndex = 1,
            Scores = [new MethodScore("detection", 0.75, null) { Details = """{"positives":3}""" }, MethodScore.Failure("fuzzing", "no reply")],
        });

        OpenAiDataset.Export(store, temp.Sub("ours"));
        using var line = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Sub("ours"), "explanations", "0", "2.jsonl")));
        var explanations = line.RootElement.GetProperty("scored_explanations");
        Assert.False(explanations[0].TryGetProperty("scores", out _));
        Assert.False(explanations[1].TryGetProperty("scores", out _));
        var scores = explanations[2].GetProperty("scores");
        Assert.Equal("second", explanations[2].GetProperty("explanation").GetString());
        Assert.Equal(("detection", 0.75, 3), (scores[0].GetProperty("method").GetString(), scores[0].GetProperty("score").GetDouble(),
            scores[0].GetProperty("details").GetProperty("positives").GetInt32()));
        Assert.True(scores[1].GetProperty("failed").GetBoolean());
        Assert.Equal("no reply", scores[1].GetProperty("undefined_reason").GetString());

        OpenAiDataset.Export(store, temp.Sub("openai"), new ExportOptions(OpenAiFieldsOnly: true));
        Assert.DoesNotContain("\"scores\"", File.ReadAllText(Path.Combine(temp.Sub("openai"), "explanations", "0", "2.jsonl")));
    }

    [Fact]
    public void OpenAI_fields_only_export_leaves_out_our_additions_and_still_imports()
    {
        using (var store = SqliteNeuronStore.Open(temp.Sub("store")))
        {
            var id = new NeuronId(2, 3);
            store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "words"));
            store.PutExplanationResult(StoreFixtures.Done(new NeuronId(2, 4), "baseline", "same") with
            {
                Results = new NeuronSimulationResults(new NeuronId(2, 4), [new ScoredExplanation("constant",
                    ScoringFixtures.Score([([1, 1], [0, 3]), ([1, 1], [2, 5])]))]),
            });
            store.PutActivationBasedTokens(id, StoreFixtures.ActivationTokens());
            OpenAiDataset.Export(store, temp.Sub("ours"));
            OpenAiDataset.Export(store, temp.Sub("openai"), new ExportOptions(OpenAiFieldsOnly: true));
        }
        string ours = string.Concat(Directory.EnumerateFiles(temp.Sub("ours"), "*", SearchOption.AllDirectories).Select(File.ReadAllText));
        string strict = string.Concat(Directory.EnumerateFiles(temp.Sub("openai"), "*", SearchOption.AllDirectories).Select(File.ReadAllText));
        foreach (string addition in new[] { "\"ev_correlation_ci\"", "\"undefined_reason\"", "\"counts\"", "\"ev_correlation_score_top_only\"", "\"ev_correlation_score_random_only\"" })
        {
            Assert.Contains(addition, ours);
            Assert.DoesNotContain(addition, strict);
        }
        Assert.Contains("\"uncalibrated_simulation\"", strict);

        using var again = SqliteNeuronStore.Open(temp.Sub("again"));
        Assert.Equal(2, OpenAiDataset.Import(temp.Sub("openai"), again).ExplanationResults);
        Assert.Null(again.GetActivationBasedTokens(new NeuronId(2, 3))!.Counts);
    }

    [Fact]
    public void Export_refuses_a_non_empty_target_and_leaves_no_staging_directory()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        store.PutNeuronRecords([StoreFixtures.Record(0, 0)]);
        Directory.CreateDirectory(temp.Sub("out"));
        File.WriteAllText(Path.Combine(temp.Sub("out"), "keep.txt"), "mine");
        Assert.Contains("not empty", Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Export(store, temp.Sub("out"))).Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(temp.Sub("out"), "keep.txt")));

        Directory.CreateDirectory(temp.Sub("empty"));
        OpenAiDataset.Export(store, temp.Sub("empty"));
        Assert.True(File.Exists(Path.Combine(temp.Sub("empty"), "collated-activations", "0", "0.json")));
        Assert.Equal(["empty", "out", "store"], Directory.EnumerateDirectories(temp.Path).Select(Path.GetFileName).Order());
    }

    public static TheoryData<string, string, string> BadFiles => new()
    {
        { "collated-activations/0/5.json", "truncate", "line 1" },
        { "collated-activations/0/5.json", "\"dataclass_name\": \"NeuronRecord\"=>\"dataclass_name\": \"NeuronRecordV9\"", "dataclass_name is 'NeuronRecordV9' where 'NeuronRecord' was expected" },
        { "collated-activations/0/5.json", "[0.0, 2.75, 0.3]=>[0.0, 2.75]", "3 tokens but 2 activations" },
        { "collated-activations/0/5.json", "[0.0, 2.75, 0.3]=>[0.0, NaN, 0.3]", "line 1" },
        { "collated-activations/0/5.json", "\"neuron_index\": 5=>\"neuron_index\": 6", "neuron_id is 0/6 but the path says 0/5" },
        { "explanations/1/2.jsonl", "\"ev_correlation_score\": 0.25=>\"ev_correlation_score\": Infinity", "line 1" },
        { "explanations/1/2.jsonl", "append-line", "line 2" },
        { "related-neurons/weight-based/0/5.json", "\"1_7\"=>\"one_seven\"", "'one_seven' is not a unit id" },
        { "related-tokens/weight-based/0/5.json", "rename:x5.json", "expected a file named by neuron index" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_bad_file_fails_the_import_naming_it_and_the_store_keeps_what_it_had(string file, string change, string expected)
    {
        string tree = temp.Sub("tree");
        StoreFixtures.CopyTree(StoreFixtures.OpenAiLayout, tree);
        string path = Path.Combine(tree, file);
        string text = File.ReadAllText(path);
        if (change == "truncate") File.WriteAllText(path, text[..(text.Length / 2)]);
        else if (change == "append-line") File.AppendAllText(path, "{\"dataclass_name\": \"NeuronSimulationResults\", \"neuron_id\":\n");
        else if (change.StartsWith("rename:")) File.Move(path, Path.Combine(Path.GetDirectoryName(path)!, change["rename:".Length..]));
        else
        {
            var (from, to) = (change.Split("=>")[0], change.Split("=>")[1]);
            Assert.Contains(from, text);
            File.WriteAllText(path, text.Replace(from, to));
        }

        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        store.PutNeuronRecords([StoreFixtures.Record(7, 7)]);
        var e = Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(tree, store));
        Assert.Contains(change.StartsWith("rename:") ? "x5.json" : path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal([new NeuronId(7, 7)], store.ListNeurons());
        Assert.Empty(store.ListExplanationResults());
    }

    [Fact]
    public void A_directory_without_the_layout_is_refused()
    {
        using var store = SqliteNeuronStore.Open(temp.Sub("store"));
        Directory.CreateDirectory(temp.Sub("nothing"));
        Assert.Contains("no OpenAI dataset files", Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(temp.Sub("nothing"), store)).Message);
        Assert.Contains("is not a directory", Assert.Throws<NeuronExplainerException>(() => OpenAiDataset.Import(temp.Sub("missing"), store)).Message);
    }
}
