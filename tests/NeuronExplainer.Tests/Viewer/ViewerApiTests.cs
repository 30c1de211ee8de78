using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using NeuronExplainer.Activations;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Explanations;

using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Viewer;

public sealed class ViewerApiTests : IAsyncLifetime
{
    readonly TempStore store = ViewerFixture.Store();
    WebApplication app = null!;
    HttpClient client = null!;

    public async Task InitializeAsync()
    {
        app = ViewerApp.Build(store.Store, ViewerOptions.Default, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        client = app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await app.DisposeAsync();
        store.Dispose();
    }

    async Task<JsonElement> Json(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{path}: {response.StatusCode} {body}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        return JsonDocument.Parse(body).RootElement;
    }

    [Fact]
    public async Task Summary_counts_layers_scores_and_extremes()
    {
        var d = await Json("/api/summary");
        Assert.Equal("stories260K", d.GetProperty("manifest").GetProperty("model").GetString());
        Assert.Equal("64", d.GetProperty("manifest").GetProperty("settings").GetProperty("seq_len").GetString());
        Assert.Equal(2, d.GetProperty("layers").GetInt32());
        Assert.Equal(6, d.GetProperty("neurons").GetInt32());
        Assert.Equal(3, d.GetProperty("scored").GetInt32());
        Assert.Equal(1, d.GetProperty("failed").GetInt32());
        Assert.Equal(ViewerQueries.HistogramBins + 1, d.GetProperty("histogram_edges").GetArrayLength());
        var layer1 = d.GetProperty("layer_scores")[1];
        Assert.Equal(2, layer1.GetProperty("scored").GetInt32());
        Assert.Equal((0.93 + 0.62) / 2, layer1.GetProperty("mean_score").GetDouble(), 12);
        var bins = layer1.GetProperty("histogram").EnumerateArray().Select(b => b.GetInt32()).ToList();
        Assert.Equal(1, bins[16]); // 0.62 falls in [0.6, 0.7)
        Assert.Equal(1, bins[19]); // 0.93 falls in [0.9, 1.0]
        Assert.Equal(2, bins.Sum());
        var best = d.GetProperty("best")[0];
        Assert.Equal((1, 0, "colours of clothing"), (best.GetProperty("layer").GetInt32(), best.GetProperty("neuron").GetInt32(), best.GetProperty("explanation").GetString()));
        Assert.Equal(-0.15, d.GetProperty("worst")[0].GetProperty("score").GetDouble());
    }

    void AddOtherKinds() => ViewerFixture.AddOtherKinds(store.Store);

    [Fact]
    public async Task A_heads_excerpts_carry_their_attended_tokens_and_the_page_names_its_layers_heads_and_neurons()
    {
        ViewerFixture.AddHeads(store.Store);
        var d = await Json("/api/units/head:1/1");
        var first = d.GetProperty("top_excerpts")[0].GetProperty("attended");
        Assert.Equal(9, first.GetArrayLength());
        Assert.Equal([(0, 0.625), (2, 0.25)], first[2].EnumerateArray().Select(a => (a.GetProperty("position").GetInt32(), a.GetProperty("weight").GetDouble())));
        Assert.Equal(["head:1/0", "head:1/2", "head:1/3"], d.GetProperty("layer_units").EnumerateArray().Select(u => u.GetProperty("unit").GetString()));
        Assert.Equal("1/0", d.GetProperty("layer_neuron").GetProperty("unit").GetString());
        // A neuron's excerpts have no attended tokens at all, and no layer units.
        var neuron = await Json("/api/units/1/2");
        Assert.False(neuron.GetProperty("top_excerpts")[0].TryGetProperty("attended", out _));
        Assert.Equal(0, neuron.GetProperty("layer_units").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, neuron.GetProperty("layer_neuron").ValueKind);
    }

    [Theory]
    [InlineData("/api/units/1/2", "neuron", "1/2", "numbers and counting words", "1/1")]
    [InlineData("/api/units/1%2F2", "neuron", "1/2", "numbers and counting words", "1/1")]
    [InlineData("/api/units/head:1/2", "head", "head:1/2", "attends to the previous comma", null)]
    [InlineData("/api/units/head%3A1%2F2", "head", "head:1/2", "attends to the previous comma", null)]
    [InlineData("/api/units/sae:res-jb-1/2", "sae", "sae:res-jb-1/2", "colours of animals", null)]
    [InlineData("/api/units/sae%3Ares-jb-1%2F2", "sae", "sae:res-jb-1/2", "colours of animals", null)]
    public async Task A_unit_of_any_kind_is_served_by_its_printed_form_encoded_or_not(string path, string kind, string unit, string explanation, string? previous)
    {
        AddOtherKinds();
        var d = await Json(path);
        Assert.Equal((kind, unit, 1, 2), (d.GetProperty("kind").GetString(), d.GetProperty("unit").GetString(), d.GetProperty("layer").GetInt32(), d.GetProperty("neuron").GetInt32()));
        Assert.Equal(explanation, d.GetProperty("explanations").EnumerateArray().Single(e => e.GetProperty("chosen").GetBoolean()).GetProperty("explanation").GetString());
        // Neighbours are units of the same kind: the head and the latent are the only ones of theirs.
        Assert.Equal(previous, d.GetProperty("previous") is { ValueKind: JsonValueKind.Object } p ? p.GetProperty("unit").GetString() : null);
        Assert.Equal(8, d.GetProperty("top_excerpts").GetArrayLength());
    }

    [Fact]
    public async Task The_old_neuron_route_still_serves_the_neuron_and_not_the_head_or_latent_beside_it()
    {
        AddOtherKinds();
        var d = await Json("/api/neurons/1/2");
        Assert.Equal(("neuron", "1/2", "numbers and counting words"), (d.GetProperty("kind").GetString(), d.GetProperty("unit").GetString(),
            d.GetProperty("explanations")[0].GetProperty("explanation").GetString()));
    }

    [Theory]
    [InlineData("/api/units/sae:other/2", HttpStatusCode.NotFound, "nothing on unit sae:other/2")]
    [InlineData("/api/units/head:9/9", HttpStatusCode.NotFound, "nothing on unit head:9/9")]
    [InlineData("/api/units/mlp:1/2", HttpStatusCode.BadRequest, "'mlp:1/2' is not a unit")]
    [InlineData("/api/units/sae:a%20b/2", HttpStatusCode.BadRequest, "'sae:a b/2' is not a unit")]
    [InlineData("/api/search?q=colours&kind=mlp", HttpStatusCode.BadRequest, "'mlp' is not a unit kind")]
    public async Task A_unit_that_is_not_one_or_not_stored_is_an_error_naming_it(string path, HttpStatusCode status, string message)
    {
        AddOtherKinds();
        Assert.Contains(message, (await Json(path, status)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task Listings_and_search_state_each_units_kind_and_search_filters_by_kind()
    {
        AddOtherKinds();
        var layer = await Json("/api/layers/1");
        var rows = layer.GetProperty("neurons").EnumerateArray().Where(r => r.GetProperty("neuron").GetInt32() == 2)
            .Select(r => (r.GetProperty("kind").GetString(), r.GetProperty("unit").GetString())).ToList();
        Assert.Equal([("head", "head:1/2"), ("neuron", "1/2"), ("sae", "sae:res-jb-1/2")], rows);

        var summary = await Json("/api/summary");
        Assert.Equal([(0, "neuron"), (1, "head"), (1, "neuron"), (1, "sae:res-jb-1")],
            summary.GetProperty("layer_scores").EnumerateArray().Select(l => (l.GetProperty("layer").GetInt32(), l.GetProperty("kind").GetString())));
        Assert.Equal(2, summary.GetProperty("layers").GetInt32());
        Assert.Equal([("1/0", "neuron"), ("sae:res-jb-1/2", "sae"), ("1/2", "neuron"), ("head:1/2", "head")],
            summary.GetProperty("best").EnumerateArray().Take(4).Select(b => (b.GetProperty("unit").GetString(), b.GetProperty("kind").GetString())));

        string[] Hits(JsonElement d) => [.. d.GetProperty("hits").EnumerateArray().Select(h => h.GetProperty("unit").GetString()!)];
        var all = Hits(await Json("/api/search?q=colours"));
        Assert.Contains("sae:res-jb-1/2", all);
        Assert.Contains("1/0", all);
        Assert.Equal(["sae:res-jb-1/2"], Hits(await Json("/api/search?q=colours&kind=sae")));
        Assert.Equal(["sae:res-jb-1/2"], Hits(await Json("/api/search?q=colours&kind=sae:res-jb-1")));
        Assert.Empty(Hits(await Json("/api/search?q=colours&kind=head")));
        Assert.Equal(["head:1/2"], Hits(await Json("/api/search?q=comma&kind=head")));
        Assert.DoesNotContain("sae:res-jb-1/2", Hits(await Json("/api/search?q=colours&kind=neuron")));
    }

    [Fact]
    public async Task Method_scores_are_on_the_chosen_explanation_and_summarised_per_layer_with_the_control()
    {
        var result = store.Store.GetExplanationResult(ViewerFixture.Explained, "baseline", "baseline")!;
        store.Store.PutExplanationResult(result with
        {
            Scores = [new("detection", 0.8, null) { Details = """{"positives":2}""" }, MethodScore.Failure("fuzzing", "no reply")],
        });
        var control = ViewerFixture.Result(ViewerFixture.Explained, ["animals in stories"], [0.1], chosen: 0, explainer: "shuffled:baseline")
            with { Control = ControlKind.Shuffled, Scores = [new("detection", 0.5, null)] };
        store.Store.PutExplanationResult(control);

        var neuron = await Json("/api/neurons/1/2");
        var own = neuron.GetProperty("explanations").EnumerateArray().Where(e => !e.GetProperty("control").GetBoolean()).ToList();
        var scores = own.Single(e => e.GetProperty("chosen").GetBoolean()).GetProperty("scores");
        Assert.Equal(("detection", 0.8, 2), (scores[0].GetProperty("method").GetString(), scores[0].GetProperty("score").GetDouble(),
            scores[0].GetProperty("details").GetProperty("positives").GetInt32()));
        Assert.True(scores[1].GetProperty("failed").GetBoolean());
        Assert.All(own.Where(e => !e.GetProperty("chosen").GetBoolean()), e => Assert.Equal(0, e.GetProperty("scores").GetArrayLength()));

        var rows = (await Json("/api/summary")).GetProperty("method_scores").EnumerateArray()
            .Where(r => r.GetProperty("layer").ValueKind == JsonValueKind.Number && r.GetProperty("layer").GetInt32() == 1).ToList();
        var detection = rows.Single(r => r.GetProperty("method").GetString() == "detection");
        Assert.Equal(0.8, detection.GetProperty("scores").GetProperty("mean").GetDouble());
        Assert.Equal(0.5, detection.GetProperty("control_mean").GetDouble());
        Assert.Equal(1, rows.Single(r => r.GetProperty("method").GetString() == "fuzzing").GetProperty("failed").GetInt32());
    }

    [Fact]
    public async Task Aggregates_are_for_one_pair_the_one_with_most_results_by_default()
    {
        // An import beside the run: better on 0/1, undefined on 1/0. Taking each neuron's best over pairs would lift
        // layer 0's mean from -0.15 to 0.95.
        store.Store.PutExplanationResult(ViewerFixture.Result(new NeuronId(0, 1), ["imported"], [0.95], chosen: 0, explainer: "openai"));
        store.Store.PutExplanationResult(ViewerFixture.Result(new NeuronId(1, 0), ["imported"], [null], chosen: 0, explainer: "openai"));

        var d = await Json("/api/summary");
        Assert.Equal(("baseline", "baseline", 4), Pair(d.GetProperty("pair")));
        Assert.Equal([("baseline", "baseline", 4), ("openai", "baseline", 2)], d.GetProperty("pairs").EnumerateArray().Select(Pair));
        Assert.Equal(-0.15, d.GetProperty("layer_scores")[0].GetProperty("mean_score").GetDouble(), 12);
        Assert.Equal(0.93, d.GetProperty("best")[0].GetProperty("score").GetDouble());
        Assert.Equal(-0.15, d.GetProperty("worst")[0].GetProperty("score").GetDouble());

        var imported = await Json("/api/summary?explainer=openai&simulator=baseline");
        Assert.Equal(("openai", "baseline", 2), Pair(imported.GetProperty("pair")));
        Assert.Equal((1, 0), (imported.GetProperty("scored").GetInt32(), imported.GetProperty("failed").GetInt32()));
        var layer1 = imported.GetProperty("layer_scores")[1];
        Assert.Equal((0, 1, 0.0), (layer1.GetProperty("scored").GetInt32(), layer1.GetProperty("undefined").GetInt32(), layer1.GetProperty("mean_score_undefined_as_zero").GetDouble()));
        Assert.Equal(JsonValueKind.Null, layer1.GetProperty("mean_score").ValueKind);
        var scores = imported.GetProperty("scores");
        Assert.Equal((1, 1, 0.95, 0.475), (scores.GetProperty("defined").GetInt32(), scores.GetProperty("undefined").GetInt32(),
            scores.GetProperty("mean").GetDouble(), scores.GetProperty("mean_undefined_as_zero").GetDouble()));
        Assert.Equal((1.0, 0.5), (scores.GetProperty("share_at_least_good").GetDouble(), scores.GetProperty("share_at_least_good_undefined_as_zero").GetDouble()));

        Assert.Contains("no results of explainer 'openai' with simulator 'chat'", (await Json("/api/summary?explainer=openai&simulator=chat", HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        Assert.Contains("give both", (await Json("/api/summary?explainer=openai", HttpStatusCode.BadRequest)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_layer_listing_shows_one_pair_the_summarys_default_or_the_one_asked_for()
    {
        // The import scores 0/1 better than the run: a listing of each neuron's best would show the import's row there.
        store.Store.PutExplanationResult(ViewerFixture.Result(new NeuronId(0, 1), ["imported"], [0.95], chosen: 0, explainer: "openai"));

        var d = await Json("/api/layers/0");
        Assert.Equal(("baseline", "baseline", 4), Pair(d.GetProperty("pair")));
        var row = d.GetProperty("neurons").EnumerateArray().Single(n => n.GetProperty("neuron").GetInt32() == 1);
        Assert.Equal("baseline", row.GetProperty("explainer").GetString());
        Assert.Equal(-0.15, row.GetProperty("score").GetDouble(), 12);

        var imported = await Json("/api/layers/0?explainer=openai&simulator=baseline");
        var rows = imported.GetProperty("neurons").EnumerateArray().ToList();
        Assert.Equal((0.95, "openai"), (rows.Single(n => n.GetProperty("neuron").GetInt32() == 1).GetProperty("score").GetDouble(),
            rows.Single(n => n.GetProperty("neuron").GetInt32() == 1).GetProperty("explainer").GetString()));
        // Neurons the pair has no result for are pending, not filled from another pair.
        Assert.All(rows.Where(n => n.GetProperty("neuron").GetInt32() != 1), n => Assert.Equal("pending", n.GetProperty("status").GetString()));
        Assert.Contains("give both", (await Json("/api/layers/0?simulator=baseline", HttpStatusCode.BadRequest)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_neuron_page_shows_top_only_and_random_only_scores()
    {
        var id = new NeuronId(1, 2);
        var result = store.Store.GetExplanationResult(id, "baseline", "baseline")!;
        var scored = result.Results!.ScoredExplanations[0];
        store.Store.PutExplanationResult(result with
        {
            Results = result.Results with { ScoredExplanations = [scored with { ScoredSimulation = scored.ScoredSimulation with { TopOnlyScore = 0.75, RandomOnlyScore = 0.125 } }, .. result.Results.ScoredExplanations.Skip(1)] },
        });
        var chosen = (await Json("/api/neurons/1/2")).GetProperty("explanations")[0];
        Assert.Equal((0.75, 0.125), (chosen.GetProperty("top_only_score").GetDouble(), chosen.GetProperty("random_only_score").GetDouble()));
    }

    static (string?, string?, int) Pair(JsonElement p) =>
        (p.GetProperty("explainer").GetString(), p.GetProperty("simulator").GetString(), p.GetProperty("results").GetInt32());

    [Fact]
    public async Task Neuron_has_explanations_excerpts_tokens_and_links()
    {
        var d = await Json("/api/neurons/1/2");
        var explanations = d.GetProperty("explanations");
        Assert.Equal(2, explanations.GetArrayLength());
        var chosen = explanations[0];
        Assert.True(chosen.GetProperty("chosen").GetBoolean());
        Assert.False(explanations[1].GetProperty("chosen").GetBoolean());
        Assert.Equal("numbers and counting words", chosen.GetProperty("explanation").GetString());
        Assert.Equal(0.62, chosen.GetProperty("score").GetDouble());
        Assert.Equal([0.52, 0.67], chosen.GetProperty("score_interval").EnumerateArray().Select(v => Math.Round(v.GetDouble(), 10)));
        var scored = chosen.GetProperty("scored_excerpts")[0];
        Assert.Equal([0.5, 4.0, 9.5], scored.GetProperty("simulated_activations").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal([0, 1.5, 3.0], scored.GetProperty("true_activations").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal("simulated_normalized_activations", scored.GetProperty("activation_scale").GetString());

        Assert.Equal(8, d.GetProperty("top_excerpts").GetArrayLength());
        Assert.Equal(7, d.GetProperty("random_excerpts").GetArrayLength());
        var tokens = d.GetProperty("top_excerpts")[0].GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal([.. ViewerFixture.HostileTokens, " one", " two"], tokens);
        Assert.Equal(4.25, d.GetProperty("max_activation").GetDouble());
        Assert.Equal(2.4, d.GetProperty("moments").GetProperty("mean").GetDouble(), 12);

        Assert.Equal(ViewerFixture.ScriptToken, d.GetProperty("activation_based_tokens").GetProperty("tokens")[2].GetString());
        Assert.Equal(-1.2, d.GetProperty("weight_based_tokens").GetProperty("output_negative").GetProperty("values")[0].GetDouble());
        var upstream = d.GetProperty("upstream").EnumerateArray().Select(u => (u.GetProperty("layer").GetInt32(), u.GetProperty("neuron").GetInt32(), u.GetProperty("weight").GetDouble())).ToList();
        Assert.Equal([(0, 1, 0.5), (0, 0, -0.25)], upstream);
        Assert.Equal(0, d.GetProperty("downstream").GetArrayLength());
        Assert.Equal(1, d.GetProperty("previous").GetProperty("neuron").GetInt32());
        Assert.Equal(JsonValueKind.Null, d.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Previous_and_next_cross_layer_boundaries()
    {
        var last = await Json("/api/neurons/0/2");
        Assert.Equal((1, 0), (last.GetProperty("next").GetProperty("layer").GetInt32(), last.GetProperty("next").GetProperty("neuron").GetInt32()));
        var first = await Json("/api/neurons/1/0");
        Assert.Equal((0, 2), (first.GetProperty("previous").GetProperty("layer").GetInt32(), first.GetProperty("previous").GetProperty("neuron").GetInt32()));
        Assert.Equal(JsonValueKind.Null, (await Json("/api/neurons/0/0")).GetProperty("previous").ValueKind);
    }

    [Fact]
    public async Task Failed_neuron_shows_its_reason_and_no_score()
    {
        var e = (await Json("/api/neurons/0/2")).GetProperty("explanations")[0];
        Assert.Equal("failed", e.GetProperty("status").GetString());
        Assert.Equal("the neuron never fired on the corpus", e.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("score").ValueKind);
        Assert.Equal(JsonValueKind.Null, e.GetProperty("explanation").ValueKind);
    }

    [Fact]
    public async Task Layer_lists_every_neuron_with_its_best_explanation()
    {
        var d = await Json("/api/layers/0");
        Assert.Equal(JsonValueKind.Null, d.GetProperty("previous_layer").ValueKind);
        Assert.Equal(1, d.GetProperty("next_layer").GetInt32());
        var rows = d.GetProperty("neurons").EnumerateArray().Select(r => (r.GetProperty("neuron").GetInt32(), r.GetProperty("status").GetString(), r.GetProperty("explanation").GetString())).ToList();
        Assert.Equal([(0, "pending", null), (1, "done", "animals in stories"), (2, "failed", null)], rows);
    }

    [Fact]
    public async Task Shuffled_controls_are_marked_and_kept_out_of_listings_and_search()
    {
        var own = (await Json("/api/neurons/0/0")).GetProperty("explanations");
        var control = Assert.Single(own.EnumerateArray());
        Assert.True(control.GetProperty("control").GetBoolean());
        Assert.Equal("shuffled:baseline", control.GetProperty("explainer").GetString());
        Assert.False((await Json("/api/neurons/1/0")).GetProperty("explanations")[0].GetProperty("control").GetBoolean());

        var layer0 = (await Json("/api/layers/0")).GetProperty("neurons")[0];
        Assert.Equal(("pending", JsonValueKind.Null), (layer0.GetProperty("status").GetString(), layer0.GetProperty("score").ValueKind));
        var summary = await Json("/api/summary");
        Assert.Equal(3, summary.GetProperty("scored").GetInt32());
        Assert.Equal(0.93, summary.GetProperty("best")[0].GetProperty("score").GetDouble());

        var hit = Assert.Single((await Json("/api/search?q=clothing")).GetProperty("hits").EnumerateArray());
        Assert.Equal((1, 0), (hit.GetProperty("layer").GetInt32(), hit.GetProperty("neuron").GetInt32()));
    }

    [Theory]
    [InlineData("/api/neurons/7/0", "neuron 7/0")]
    [InlineData("/api/neurons/0/99", "neuron 0/99")]
    [InlineData("/api/layers/5", "layer 5")]
    [InlineData("/api/nothing", "no such API route")]
    public async Task Unknown_things_are_404_with_a_message(string path, string mentioned)
    {
        var d = await Json(path, HttpStatusCode.NotFound);
        Assert.Contains(mentioned, d.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Search_finds_an_explanation_word_and_splits_the_highlight()
    {
        var d = await Json("/api/search?q=counting");
        var hit = Assert.Single(d.GetProperty("hits").EnumerateArray());
        Assert.Equal((1, 2), (hit.GetProperty("layer").GetInt32(), hit.GetProperty("neuron").GetInt32()));
        var spans = hit.GetProperty("highlighted").EnumerateArray().Select(s => (s.GetProperty("text").GetString(), s.GetProperty("match").GetBoolean())).ToList();
        Assert.Equal([("numbers and ", false), ("counting", true), (" words", false)], spans);
    }

    [Theory]
    [InlineData("\" AND (")]
    [InlineData("NEAR(a b")]
    [InlineData("*")]
    [InlineData("explanation:numbers OR")]
    public async Task Search_syntax_in_user_text_is_taken_as_words(string query)
    {
        var d = await Json("/api/search?q=" + Uri.EscapeDataString(query));
        Assert.Equal(query, d.GetProperty("query").GetString());
    }

    [Fact]
    public async Task Search_keeps_markup_in_explanations_as_text()
    {
        var d = await Json("/api/search?q=script");
        var hit = Assert.Single(d.GetProperty("hits").EnumerateArray());
        Assert.Equal("the word <script> & friends", hit.GetProperty("explanation").GetString());
        var spans = hit.GetProperty("highlighted").EnumerateArray().Select(s => (s.GetProperty("text").GetString(), s.GetProperty("match").GetBoolean())).ToList();
        Assert.Equal([("the word <", false), ("script", true), ("> & friends", false)], spans);
    }

    [Theory]
    [InlineData("/api/search", "'q' is missing")]
    [InlineData("/api/search?q=%20", "'q' is missing")]
    [InlineData("/api/search?q=cat&limit=0", "limit is 0")]
    [InlineData("/api/search?q=cat&limit=100000", "limit is 100000")]
    public async Task Bad_search_requests_are_400_with_a_message(string path, string mentioned)
    {
        var d = await Json(path, HttpStatusCode.BadRequest);
        Assert.Contains(mentioned, d.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/api/search?q=cat&limit=abc", "limit 'abc' is not a whole number")]
    [InlineData("/api/search?q=cat&limit=5&limit=6", "'limit' is given 2 times")]
    [InlineData("/api/search?q=cat&q=dog", "'q' is given 2 times")]
    public async Task Malformed_search_parameters_are_400_with_a_message(string path, string mentioned)
    {
        var d = await Json(path, HttpStatusCode.BadRequest);
        Assert.Contains(mentioned, d.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/api/neurons/0/5.0")]
    [InlineData("/api/neurons/0/abc")]
    [InlineData("/api/layers/1.5")]
    [InlineData("/api/store.db")]
    public async Task Every_api_404_has_a_json_error(string path)
    {
        var d = await Json(path, HttpStatusCode.NotFound);
        Assert.False(string.IsNullOrEmpty(d.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task A_wrong_method_on_the_api_has_a_json_error()
    {
        var response = await client.PostAsync("/api/summary", null);
        Assert.True((int)response.StatusCode is >= 400 and < 500, response.StatusCode.ToString());
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        Assert.False(string.IsNullOrEmpty(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task Search_queries_are_bounded_in_length_and_words()
    {
        var tooLong = await Json("/api/search?q=" + new string('a', 8192), HttpStatusCode.BadRequest);
        Assert.Contains("8192 characters", tooLong.GetProperty("error").GetString());
        var manyWords = await Json("/api/search?q=" + Uri.EscapeDataString(string.Join(' ', Enumerable.Range(0, 20).Select(i => $"w{i}"))), HttpStatusCode.BadRequest);
        Assert.Contains("20 words", manyWords.GetProperty("error").GetString());
        // A repeated word is one word: the same term twice only costs FTS5 work.
        Assert.Single((await Json("/api/search?q=" + Uri.EscapeDataString(string.Join(' ', Enumerable.Repeat("counting", 20))))).GetProperty("hits").EnumerateArray());
    }

    [Theory]
    [InlineData("evil.example")]
    [InlineData("evil.example:5000")]
    [InlineData("127.0.0.1.evil.example")]
    public async Task Requests_for_another_host_name_are_refused(string host)
    {
        foreach (var path in new[] { "/api/summary", "/" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("is not this viewer's address", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        }
    }

    [Theory]
    [InlineData("localhost:5000")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("[::1]:5000")]
    [InlineData("LOCALHOST")]
    public async Task Loopback_host_names_are_served(string host)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/summary");
        request.Headers.Host = host;
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task A_viewer_opened_to_the_network_serves_any_host_name()
    {
        await using var open = ViewerApp.Build(store.Store, ViewerOptions.Default with { Host = IPAddress.Any }, b => b.WebHost.UseTestServer());
        await open.StartAsync();
        using var http = open.GetTestClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/summary");
        request.Headers.Host = "viewer.lab.example:5000";
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/neuron/1/2")]
    [InlineData("/unit/1/2")]
    [InlineData("/unit/head:1/2")]
    [InlineData("/unit/sae:res-jb-1/2")]
    [InlineData("/unit/sae%3Ares-jb-1%2F2")]
    [InlineData("/layer/0")]
    [InlineData("/search?q=numbers")]
    public async Task Pages_are_the_static_page_with_a_strict_policy(string path)
    {
        var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("<script src=\"/assets/app.js\" defer></script>", await response.Content.ReadAsStringAsync());
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Theory]
    [InlineData("/assets/app.js", "text/javascript; charset=utf-8")]
    [InlineData("/assets/style.css", "text/css; charset=utf-8")]
    public async Task Assets_come_from_the_executable(string path, string type)
    {
        var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType?.ToString());
    }

    [Theory]
    [InlineData("/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd")]
    [InlineData("/assets/%2e%2e%2fViewerApp.cs")]
    [InlineData("/assets/../../../../etc/passwd")]
    [InlineData("/../../../../etc/passwd")]
    [InlineData("/assets/..\\..\\NeuronExplainer.Cli.csproj")]
    [InlineData("/assets/NeuronExplainer.Cli.Viewer.Assets.app.js")]
    [InlineData("/store.db")]
    [InlineData("/neuron-explainer.dll")]
    public async Task No_url_reaches_the_file_system(string path)
    {
        var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("root:", body);
        Assert.DoesNotContain("<Project", body);
    }

    [Fact]
    public async Task Api_is_read_only()
    {
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch })
            foreach (var path in new[] { "/api/neurons/1/2", "/api/search?q=cat", "/neuron/1/2", "/assets/app.js" })
            {
                var response = await client.SendAsync(new HttpRequestMessage(method, path));
                Assert.True(response.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotFound, $"{method} {path}: {response.StatusCode}");
            }
    }
}
