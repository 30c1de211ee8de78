using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Storage;

/// <summary>
/// What every store backend must do, whatever it keeps its data in: a subclass per backend opens its stores
/// (SQLite and PostgreSQL).
/// </summary>
public abstract class NeuronStoreContract
{
    /// <summary>Opens the test's store, creating it on first use; every call opens the same location.</summary>
    protected abstract INeuronStore Open();

    /// <summary>Opens the test's store, which must exist.</summary>
    protected abstract INeuronStore OpenExisting();

    static string Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) => JsonSerializer.Serialize(value, info);

    [Fact]
    public void A_claim_is_held_against_other_owners_until_released_or_expired()
    {
        using var store = Open();
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var mine = new WorkClaim(new NeuronId(0, 1), "baseline", "baseline", "run-a", now.AddMinutes(2));
        var theirs = mine with { Owner = "run-b" };
        Assert.True(store.TryClaim(mine, now));
        Assert.False(store.TryClaim(theirs, now.AddMinutes(1)));
        Assert.True(store.TryClaim(theirs with { Neuron = new NeuronId(0, 2) }, now), "another neuron is free");
        Assert.True(store.TryClaim(theirs with { Simulator = "gpt" }, now), "another simulator is another result");
        Assert.True(store.TryClaim(mine with { Until = now.AddMinutes(3) }, now), "the owner may renew");
        store.RenewClaims("run-a", now.AddMinutes(10));
        Assert.False(store.TryClaim(theirs, now.AddMinutes(5)), "renewed past the first expiry");
        Assert.True(store.TryClaim(theirs with { Until = now.AddMinutes(20) }, now.AddMinutes(10)), "an expired claim is taken over");
        store.ReleaseClaim(mine);
        Assert.False(store.TryClaim(mine, now.AddMinutes(11)), "releasing another owner's claim does nothing");
        store.ReleaseClaim(theirs);
        Assert.True(store.TryClaim(mine, now.AddMinutes(11)));
    }

    [Fact]
    public void A_stored_result_ends_the_claims_on_its_work_in_the_same_write()
    {
        // A worker killed between storing a result and releasing its claim must not leave a claim that no run ever
        // takes again (a settled neuron is never claimed), so the store drops it with the result.
        using var store = Open();
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var id = new NeuronId(0, 3);
        var mine = new WorkClaim(id, "baseline", "baseline", "run-a", now.AddMinutes(2));
        var otherPair = mine with { Explainer = "gpt", Owner = "run-b" };
        Assert.True(store.TryClaim(mine, now));
        Assert.True(store.TryClaim(otherPair, now));
        store.PutExplanationResult(new NeuronExplanationResult(id, "baseline", "baseline", NeuronStatus.Failed, "server said no", null, null, now));
        Assert.True(store.TryClaim(mine with { Owner = "run-c" }, now.AddMinutes(1)), "the stored result's claim is gone");
        Assert.False(store.TryClaim(otherPair with { Owner = "run-c" }, now.AddMinutes(1)), "another pair's claim is held still");
    }

    [Fact]
    public void A_batch_claim_takes_the_free_neurons_and_leaves_those_held_by_others()
    {
        using var store = Open();
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        NeuronId[] neurons = [.. Enumerable.Range(0, 4).Select(n => new NeuronId(1, n))];
        Assert.True(store.TryClaim(new WorkClaim(neurons[2], "baseline", "baseline", "run-b", now.AddMinutes(2)), now));
        Assert.Equal([neurons[0], neurons[1], neurons[3]], store.TryClaimBatch(neurons, "baseline", "baseline", "run-a", now.AddMinutes(2), now).OrderBy(n => (n.LayerIndex, n.NeuronIndex)));
        Assert.Empty(store.TryClaimBatch(neurons, "baseline", "baseline", "run-c", now.AddMinutes(4), now.AddMinutes(1)));
        Assert.Equal(neurons, store.TryClaimBatch(neurons, "baseline", "baseline", "run-c", now.AddMinutes(4), now.AddMinutes(3)).OrderBy(n => (n.LayerIndex, n.NeuronIndex)));
        Assert.Equal(neurons, store.TryClaimBatch(neurons, "gpt", "baseline", "run-a", now.AddMinutes(4), now.AddMinutes(3)).OrderBy(n => (n.LayerIndex, n.NeuronIndex)));
    }

    [Fact]
    public void Stores_claiming_the_same_neurons_at_once_get_disjoint_claims_that_cover_them()
    {
        using var first = Open();
        using var second = Open();
        var now = DateTimeOffset.UtcNow;
        NeuronId[] neurons = [.. Enumerable.Range(0, 60).Select(n => new NeuronId(0, n))];
        var claims = new System.Collections.Concurrent.ConcurrentDictionary<NeuronId, string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, w =>
        {
            var store = w % 2 == 0 ? first : second;
            for (int start = 0; start < neurons.Length; start += 10)
                foreach (var id in store.TryClaimBatch(neurons[start..(start + 10)], "baseline", "baseline", $"worker-{w}", now.AddMinutes(2), now))
                    Assert.True(claims.TryAdd(id, $"worker-{w}"), $"{id} claimed twice");
        });
        Assert.Equal(neurons, claims.Keys.OrderBy(n => (n.LayerIndex, n.NeuronIndex)));
    }

    [Fact]
    public void The_llm_budget_is_shared_by_every_store_on_the_location_and_counts_what_the_ledger_paid()
    {
        using var first = Open();
        using var second = Open();
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        first.AddLedgerEntry(new LedgerEntry(null, "m", "explain", 1, 1, 0.25m, false, now));
        first.AddLedgerEntry(new LedgerEntry(null, "m", "explain", 1, 1, 0m, true, now));
        var held = first.TryReserveBudget(0.5m, 1m, now.AddMinutes(10), now);
        Assert.NotNull(held);
        Assert.Null(second.TryReserveBudget(0.3m, 1m, now.AddMinutes(10), now));
        Assert.NotNull(second.TryReserveBudget(0.25m, 1m, now.AddMinutes(10), now));
        Assert.Equal(new LlmBudget(0.25m, 1m, 0.75m), second.GetBudget(now));
        first.ReleaseBudget(held);
        Assert.NotNull(second.TryReserveBudget(0.5m, 1m, now.AddMinutes(10), now));
        // Reservations of a killed process lapse.
        Assert.NotNull(first.TryReserveBudget(0.75m, 1m, now.AddMinutes(20), now.AddMinutes(11)));
        Assert.Equal(new LlmBudget(0.25m, 1m, 0.75m), first.GetBudget(now.AddMinutes(11)));
    }

    [Fact]
    public void A_paid_call_is_cached_ledgered_and_its_mark_and_reservation_ended_in_one_write()
    {
        using var first = Open();
        using var second = Open();
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(CallClaim.Claimed, first.TryClaimCall("k", "worker-1", now.AddMinutes(1), now, unlessCached: true));
        var reservation = first.TryReserveBudget(0.5m, 1m, now.AddMinutes(10), now);
        Assert.Equal(CallClaim.HeldElsewhere, second.TryClaimCall("k", "worker-2", now.AddMinutes(1), now, unlessCached: true));
        Assert.Equal(new LlmBudget(0m, 1m, 0.5m), second.GetBudget(now));

        first.AddLedgerEntry(new LedgerEntry(null, "m", "explain", 1, 1, 0.125m, false, now), new LlmCacheEntry("k", "m", "{}", "{\"a\":1}", now),
            new CallHold("k", "worker-1", reservation));
        Assert.Equal("{\"a\":1}", second.GetCachedResponse("k")!.Response);
        Assert.Equal(new LlmBudget(0.125m, 1m, 0m), second.GetBudget(now));
        // Answered: a claim that asks finds the answer instead (and marks nothing); one that does not ask claims.
        Assert.Equal(CallClaim.Cached, second.TryClaimCall("k", "worker-2", now.AddMinutes(1), now, unlessCached: true));
        Assert.Equal(CallClaim.Claimed, second.TryClaimCall("k", "worker-2", now.AddMinutes(1), now));
    }

    [Fact]
    public void Concurrent_reservations_never_grant_more_than_the_budget()
    {
        using var first = Open();
        using var second = Open();
        var now = DateTimeOffset.UtcNow;
        first.AddLedgerEntry(new LedgerEntry(null, "m", "explain", 1, 1, 0.25m, false, now));
        int granted = 0;
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if ((i % 2 == 0 ? first : second).TryReserveBudget(0.1m, 1m, now.AddMinutes(10), now) is not null) Interlocked.Increment(ref granted);
        });
        Assert.Equal(7, granted);
    }

    [Fact]
    public void Tokens_with_control_characters_come_back_as_they_were()
    {
        var record = StoreFixtures.Record(0, 1) with { MostPositiveActivationRecords = [new ActivationRecord(["\0", "a\u0001b", "é", " the"], [1.0, 0.5, 0.25, 0])] };
        using (var store = Open()) store.PutNeuronRecords([record]);
        using var reopened = OpenExisting();
        Assert.Equal(["\0", "a\u0001b", "é", " the"], reopened.GetNeuronRecord(new NeuronId(0, 1))!.MostPositiveActivationRecords[0].Tokens);
    }

    [Fact]
    public void Exactly_one_of_the_corpus_shards_claims_the_merge_even_when_the_last_ones_finish_at_once()
    {
        using var a = Open();
        using var b = Open();
        Assert.False(a.FinishShard(0, 3));
        // The other two finish at the same moment, on two connections.
        var claims = new bool[3];
        using var together = new Barrier(2);
        Parallel.For(1, 3, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            together.SignalAndWait();
            claims[i] = (i == 1 ? a : b).FinishShard(i, 3);
        });
        Assert.Equal(1, claims.Count(c => c));
        int claimant = Array.IndexOf(claims, true), other = 3 - claimant;
        Assert.False(a.FinishShard(other, 3), "another shard finishing again after the merge was claimed");
        Assert.False(b.FinishShard(0, 3));
        Assert.True(b.FinishShard(claimant, 3), "the claimant running again takes up its merge");
        Assert.Contains("split into 3 corpus shards, not 2", Assert.Throws<NeuronExplainerException>(() => b.FinishShard(0, 2)).Message);
    }

    [Fact]
    public void A_collection_is_incomplete_from_its_manifest_until_marked_complete_and_stays_so_after_a_new_manifest()
    {
        using var store = Open();
        Assert.Equal(CollectionState.None, store.GetCollectionState());
        var manifest = new RunManifest("m", "c", new Dictionary<string, string>(), "0.1.0", DateTimeOffset.UnixEpoch);
        store.PutManifest(manifest);
        Assert.Equal(CollectionState.Incomplete, store.GetCollectionState());
        store.MarkCollectionComplete();
        store.PutManifest(manifest with { ToolVersion = "0.2.0" });
        Assert.Equal(CollectionState.Complete, store.GetCollectionState());
    }

    [Fact]
    public void Everything_put_comes_back_after_reopening()
    {
        var id = new NeuronId(2, 7);
        var record = StoreFixtures.Record(2, 7);
        var manifest = new RunManifest("stories260K.bin", "tinystories.txt", new Dictionary<string, string> { ["seq_len"] = "64", ["top_k"] = "20" },
            "0.1.0", new DateTimeOffset(2026, 11, 21, 8, 30, 0, TimeSpan.FromHours(1)));
        var result = StoreFixtures.Done(id, "baseline", "words about cats", "the letter q");
        var cache = new LlmCacheEntry("sha256:abc", "gpt-4o-mini", "{\"prompt\":1}", "{\"text\":\"x\"}", manifest.CreatedAt);
        var ledger = new LedgerEntry(id, "gpt-4o-mini", "explain", 120, 30, 0.000123m, false, manifest.CreatedAt) { CachedPromptTokens = 64 };

        using (var store = Open())
        {
            Assert.Null(store.GetManifest());
            store.PutManifest(manifest);
            store.PutNeuronRecords([record, StoreFixtures.Record(0, 1)]);
            store.PutActivationBasedTokens(id, StoreFixtures.ActivationTokens());
            store.PutWeightBasedTokens(id, StoreFixtures.WeightTokens());
            store.PutConnections(id, StoreFixtures.Connections(2));
            store.PutCheckpoint("collect", [1, 2, 3]);
            store.PutExplanationResult(result);
            store.AddLedgerEntry(ledger, cache);
            store.AddLedgerEntry(ledger with { Neuron = null, FromCache = true, Cost = 0 });
        }

        using (var store = OpenExisting())
        {
            var m = store.GetManifest()!;
            Assert.Equal((manifest.Model, manifest.Corpus, manifest.ToolVersion, manifest.CreatedAt), (m.Model, m.Corpus, m.ToolVersion, m.CreatedAt));
            Assert.Equal(manifest.Settings, m.Settings);
            Assert.Equal(Json(record, DatasetJson.Default.NeuronRecord), Json(store.GetNeuronRecord(id)!, DatasetJson.Default.NeuronRecord));
            Assert.Null(store.GetNeuronRecord(new NeuronId(9, 9)));
            Assert.Equal([new NeuronId(0, 1), id], store.ListNeurons());
            Assert.Equal([id], store.ListNeurons(2));
            Assert.Equal([0, 2], store.ListLayers());
            Assert.Equal(Json(StoreFixtures.ActivationTokens(), DatasetJson.Default.TokenLookupTableSummaryOfNeuron),
                Json(store.GetActivationBasedTokens(id)!, DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.WeightTokens(), DatasetJson.Default.WeightBasedSummaryOfNeuron),
                Json(store.GetWeightBasedTokens(id)!, DatasetJson.Default.WeightBasedSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.Connections(2), DatasetJson.Default.NeuronConnections),
                Json(store.GetConnections(id)!, DatasetJson.Default.NeuronConnections));
            Assert.Equal([1, 2, 3], store.GetCheckpoint("collect"));

            var back = store.GetExplanationResult(id, "baseline", "baseline")!;
            Assert.Equal((result.Neuron, result.Status, result.ChosenIndex, result.UpdatedAt), (back.Neuron, back.Status, back.ChosenIndex, back.UpdatedAt));
            Assert.Equal(Json(result.Results!, DatasetJson.Default.NeuronSimulationResults), Json(back.Results!, DatasetJson.Default.NeuronSimulationResults));
            Assert.Single(store.GetExplanationResults(id));
            Assert.Single(store.ListExplanationResults(2));
            Assert.Empty(store.ListExplanationResults(0));

            var score = Assert.Single(store.ListScores());
            Assert.Equal(new NeuronScore(id, "baseline", "baseline", NeuronStatus.Done, "words about cats",
                result.Results!.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore), score);

            Assert.Equal(cache, store.GetCachedResponse("sha256:abc"));
            Assert.Null(store.GetCachedResponse("other"));
            Assert.Equal([ledger, ledger with { Neuron = null, FromCache = true, Cost = 0 }], store.ListLedger());
        }
    }

    [Fact]
    public void Puts_replace_earlier_values()
    {
        using var store = Open();
        var id = new NeuronId(1, 1);
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "old words"));
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "fresh words"));
        store.PutExplanationResult(new NeuronExplanationResult(id, "gpt", "gpt", NeuronStatus.Failed, "server said no", null, null, DateTimeOffset.UnixEpoch));
        store.PutCheckpoint("collect", [1]);
        store.PutCheckpoint("collect", [2]);

        Assert.Equal(["fresh words"], store.GetExplanationResults(id).Select(r => r.Results?.ScoredExplanations[0].Explanation).OfType<string>());
        Assert.Equal("server said no", store.GetExplanationResult(id, "gpt", "gpt")!.Reason);
        Assert.Empty(store.SearchExplanations("old", 10));
        Assert.Single(store.SearchExplanations("fresh", 10));
        Assert.Equal([2], store.GetCheckpoint("collect"));
        store.DeleteCheckpoint("collect");
        Assert.Null(store.GetCheckpoint("collect"));
        Assert.Equal([null, "fresh words"], store.ListScores().Select(s => s.Explanation).Order());
    }

    [Fact]
    public void Search_ranks_by_relevance_and_highlights_matches()
    {
        using var store = Open();
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "the word \"cat\" and other cats in stories about cats"));
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 2), "baseline", "animals such as a cat or a dog, pets, farms, and many other things"));
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(3, 4), "baseline", "closing parentheses"));

        var hits = store.SearchExplanations("cats", 10);
        Assert.Equal([new NeuronId(0, 1), new NeuronId(0, 2)], hits.Select(h => h.Neuron));
        Assert.Contains($"{SearchHighlight.Open}cats{SearchHighlight.Close}", hits[0].Highlighted);
        Assert.True(hits[0].Rank < hits[1].Rank, "bm25: lower is better");

        Assert.Equal(new NeuronId(3, 4), Assert.Single(store.SearchExplanations("parenth", 10)).Neuron);
        Assert.Single(store.SearchExplanations("cats", 1));
        // FTS5 syntax in user text is taken literally instead of failing.
        Assert.Empty(store.SearchExplanations("\"AND (NEAR* -", 10));
        Assert.Empty(store.SearchExplanations("   ", 10));
    }

    [Fact]
    public void A_failing_batch_leaves_nothing_behind()
    {
        using var store = Open();
        var bad = StoreFixtures.Record(1, 5) with { MostPositiveActivationRecords = [new ActivationRecord(["a", "b"], [1.0])] };
        var e = Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(1, 4), bad]));
        Assert.Contains("neuron 1/5", e.Message);
        Assert.Contains("2 tokens but 1 activations", e.Message);

        var nan = StoreFixtures.Record(1, 6) with { RandomSample = [new ActivationRecord(["a"], [double.NaN])] };
        Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(1, 4), nan]));

        var outOfRange = StoreFixtures.Done(new NeuronId(1, 4), "baseline", "one") with { ChosenIndex = 3 };
        Assert.Contains("chosen index 3", Assert.Throws<NeuronExplainerException>(() => store.PutExplanationResult(outOfRange)).Message);

        Assert.Empty(store.ListNeurons());
        Assert.Null(store.GetNeuronRecord(new NeuronId(1, 4)));
    }

    [Fact]
    public void Two_stores_on_one_location_write_concurrently()
    {
        using var first = Open();
        using var second = Open();
        Parallel.For(0, 80, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var store = i % 2 == 0 ? first : second;
            store.PutNeuronRecords([StoreFixtures.Record(i % 4, i)]);
            store.AddLedgerEntry(new LedgerEntry(new NeuronId(i % 4, i), "m", "explain", i, 1, 0.01m, false, DateTimeOffset.UnixEpoch));
        });
        Assert.Equal(80, first.ListNeurons().Count);
        Assert.Equal(80, second.ListLedger().Count);
        Assert.Equal(Enumerable.Range(0, 80).Sum(), first.ListLedger().Sum(e => e.PromptTokens));
    }

    [Fact]
    public void A_failing_batch_of_puts_lands_none_of_them()
    {
        using var store = Open();
        var e = Assert.Throws<InvalidOperationException>(() => store.Batch(() =>
        {
            store.PutNeuronRecords([StoreFixtures.Record(0, 1)]);
            store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "first words"));
            throw new InvalidOperationException("stop here");
        }));
        Assert.Equal("stop here", e.Message);
        Assert.Empty(store.ListNeurons());
        Assert.Empty(store.ListScores());
        Assert.Empty(store.SearchExplanations("first", 10));
    }

    [Fact]
    public void Scores_by_method_and_the_choice_rule_come_back_and_are_replaced()
    {
        var id = new NeuronId(2, 5);
        var scores = new List<MethodScore> { new("simulation-correlation", 0.75, null), new("detection", null, "no positive excerpts") };
        using (var store = Open())
        {
            store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "words about cats") with { Scores = scores, ChosenBy = ChoiceRule.CalibrationCorrelation });
            store.PutExplanationResult(StoreFixtures.Done(new NeuronId(2, 6), "baseline", "no scores"));
        }
        using (var store = OpenExisting())
        {
            var back = store.GetExplanationResult(id, "baseline", "baseline")!;
            Assert.Equal(scores.OrderBy(x => x.Method, StringComparer.Ordinal), back.Scores);
            Assert.Equal(ChoiceRule.CalibrationCorrelation, back.ChosenBy);
            Assert.Empty(store.GetExplanationResult(new NeuronId(2, 6), "baseline", "baseline")!.Scores);
            store.PutExplanationResult(back with { Scores = [new("simulation-correlation", 0.5, null)] });
            Assert.Equal([new MethodScore("simulation-correlation", 0.5, null)], Assert.Single(store.GetExplanationResults(id)).Scores);
        }
    }

    [Fact]
    public void Failed_scores_and_details_come_back_and_method_scores_are_listed_without_the_results()
    {
        var id = new NeuronId(3, 1);
        var scores = new List<MethodScore>
        {
            MethodScore.Failure("detection", "after 3 attempts, the reply has 2 answer lines for 10 excerpts"),
            new("fuzzing", 0.75, null) { Details = """{"positives":4}""" },
        };
        using (var store = Open())
        {
            store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "words about cats") with { Scores = scores });
            store.PutExplanationResult(StoreFixtures.Done(id, ShuffledControl.ExplainerName("baseline"), "dogs") with
            {
                Control = ControlKind.Shuffled, Scores = [new("fuzzing", 0.5, null)],
            });
        }
        using var reopened = OpenExisting();
        Assert.Equal(scores, reopened.GetExplanationResult(id, "baseline", "baseline")!.Scores);
        var listed = reopened.ListMethodScores(3);
        Assert.Equal([("baseline", ControlKind.None, "detection", true), ("baseline", ControlKind.None, "fuzzing", false),
            ("shuffled:baseline", ControlKind.Shuffled, "fuzzing", false)],
            listed.Select(r => (r.Explainer, r.Control, r.Score.Method, r.Score.Failed)));
        Assert.Null(listed[1].Score.Details);
        Assert.Equal(0.75, listed[1].Score.Value);
        Assert.Empty(reopened.ListMethodScores(2));
    }

    [Fact]
    public void A_control_is_kept_apart_by_its_field_and_never_searched()
    {
        var id = new NeuronId(1, 3);
        using (var store = Open())
        {
            store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "words about cats"));
            store.PutExplanationResult(StoreFixtures.Done(id, ShuffledControl.ExplainerName("baseline"), "words about dogs") with { Control = ControlKind.Shuffled });
        }
        using var reopened = OpenExisting();
        Assert.Equal([ControlKind.None, ControlKind.Shuffled], reopened.GetExplanationResults(id).Select(r => r.Control));
        Assert.Equal([ControlKind.None, ControlKind.Shuffled], reopened.ListScores().Select(r => r.Control));
        Assert.Empty(reopened.SearchExplanations("dogs", 10));
        Assert.Single(reopened.SearchExplanations("cats", 10));
    }

    static readonly NeuronId Neuron = new(2, 7), Head = NeuronId.Head(2, 7), Latent = NeuronId.Latent("res-jb-2", 2, 7);

    [Fact]
    public void A_neuron_a_head_and_an_sae_latent_at_the_same_layer_and_index_are_kept_apart_everywhere()
    {
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        using (var store = Open())
        {
            foreach (var (unit, i) in new[] { Neuron, Head, Latent }.Select((u, i) => (u, i)))
            {
                store.PutNeuronRecords([StoreFixtures.Record(2, 7) with { NeuronId = unit, Mean = i + 1 }]);
                store.PutActivationBasedTokens(unit, StoreFixtures.ActivationTokens() with { Tokens = [$" token{i}"], AverageActivations = [i], Counts = [1] });
                var result = Scored(unit, "baseline", NeuronStatus.Done, 0.1 * (i + 1));
                var chosen = result.Results!.ScoredExplanations[0] with { Explanation = $"{NeuronId.Prefix(unit.Kind)} words" };
                store.PutExplanationResult(result with { Results = result.Results with { ScoredExplanations = [chosen] } });
                store.AddLedgerEntry(new LedgerEntry(unit, "m", "explain", 10 + i, 1, 0m, false, now));
                Assert.True(store.TryClaim(new WorkClaim(unit, "baseline", "baseline", $"run-{i}", now.AddMinutes(2)), now), $"{unit} is free");
            }
        }
        using var back = OpenExisting();
        Assert.Equal([Head, Neuron, Latent], back.ListNeurons(2));
        Assert.Equal(3, back.CountNeuronsByLayer()[2]);
        foreach (var (unit, i) in new[] { Neuron, Head, Latent }.Select((u, i) => (u, i)))
        {
            var record = back.GetNeuronRecord(unit)!;
            Assert.Equal((unit, (double?)(i + 1)), (record.NeuronId, record.Mean));
            Assert.Equal([$" token{i}"], back.GetActivationBasedTokens(unit)!.Tokens);
            var result = Assert.Single(back.GetExplanationResults(unit));
            Assert.Equal((unit, $"{NeuronId.Prefix(unit.Kind)} words"), (result.Neuron, result.Results!.ScoredExplanations[0].Explanation));
            Assert.Equal(unit, back.GetExplanationResult(unit, "baseline", "baseline")!.Results!.NeuronId);
            Assert.Equal(unit, Assert.Single(back.SearchExplanations(NeuronId.Prefix(unit.Kind), 10)).Neuron);
        }
        Assert.Equal([Head, Neuron, Latent], back.ListScores(2).Select(s => s.Neuron));
        Assert.Equal([Head, Neuron, Latent], back.ListExplanationResults(2).Select(s => s.Neuron));
        Assert.Equal([Neuron, Head, Latent], back.ListLedger().Select(e => e.Neuron));
        Assert.Equal([("head", 1, 0.2), ("neuron", 1, 0.1), ("sae:res-jb-2", 1, 0.3)],
            back.ListPairLayerScores().Select(a => (a.Kind, a.Done, Math.Round(a.ScoreSum, 9))));
        Assert.Equal([Latent, Head, Neuron], back.ExtremeScores("baseline", "baseline", 3, best: true).Select(s => s.Neuron));
        Assert.False(back.TryClaim(new WorkClaim(Latent, "baseline", "baseline", "run-9", now.AddMinutes(2)), now.AddMinutes(1)), "each unit keeps its own claim");
        back.ReleaseClaim(new WorkClaim(Head, "baseline", "baseline", "run-1", now));
        Assert.True(back.TryClaim(new WorkClaim(Head, "baseline", "baseline", "run-9", now.AddMinutes(2)), now.AddMinutes(1)));
        Assert.False(back.TryClaim(new WorkClaim(Neuron, "baseline", "baseline", "run-9", now.AddMinutes(2)), now.AddMinutes(1)), "releasing the head left the neuron's claim");
    }

    [Fact]
    public void A_heads_record_keeps_every_excerpts_attended_tokens_to_the_bit_and_a_record_mixing_them_is_refused()
    {
        var record = StoreFixtures.HeadRecord(1, 3);
        using (var store = Open())
        {
            store.PutNeuronRecords([record, StoreFixtures.Record(1, 3)]);
            var mixed = record with { RandomSample = [.. record.RandomSample.Skip(1), StoreFixtures.Excerpt(5)] };
            var error = Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([mixed with { NeuronId = NeuronId.Head(1, 4) }]));
            Assert.Contains("carry attended tokens; expected all or none", error.Message);
            Assert.Null(store.GetNeuronRecord(NeuronId.Head(1, 4)));
        }
        using var back = OpenExisting();
        var read = back.GetNeuronRecord(record.NeuronId)!;
        Assert.Equal(Json(record, DatasetJson.Default.NeuronRecord), Json(read, DatasetJson.Default.NeuronRecord));
        Assert.Contains("\"attended\":[[{\"position\":0,", Json(read, DatasetJson.Default.NeuronRecord));
        // The neuron beside it has none, and its record keeps version 1's layout.
        Assert.All(AllExcerpts(back.GetNeuronRecord(new NeuronId(1, 3))!), e => Assert.Null(e.Attended));
    }

    static IEnumerable<ActivationRecord> AllExcerpts(NeuronRecord record) =>
        record.MostPositiveActivationRecords.Concat(record.RandomSample).Concat(record.RandomSampleByQuantile!.SelectMany(q => q));

    [Fact]
    public void An_sae_latent_spelled_without_its_layer_is_found_at_the_layer_its_sae_was_stored_at()
    {
        using var store = Open();
        store.PutNeuronRecords([StoreFixtures.Record(5, 3) with { NeuronId = NeuronId.Latent("res-jb-5", 5, 3) }]);
        var spelled = NeuronId.Parse("sae:res-jb-5/3");
        Assert.Equal(NeuronId.UnknownLayer, spelled.LayerIndex);
        Assert.Equal(5, store.GetNeuronRecord(spelled)!.NeuronId.LayerIndex);
        store.PutExplanationResult(StoreFixtures.Done(spelled, "baseline", "words"));
        Assert.Equal(5, Assert.Single(store.ListScores(5)).Neuron.LayerIndex);
        Assert.Null(store.GetNeuronRecord(NeuronId.Parse("sae:other/3")));

        var unknown = Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(5, 3) with { NeuronId = NeuronId.Parse("sae:other/3") }]));
        Assert.Contains("does not know SAE other", unknown.Message);
        var moved = Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(4, 3) with { NeuronId = NeuronId.Latent("res-jb-5", 4, 3) }]));
        Assert.Contains("holds SAE res-jb-5 at layer 5", moved.Message);
        Assert.Equal([NeuronId.Latent("res-jb-5", 5, 3)], store.ListNeurons());
    }

    [Fact]
    public void A_result_written_with_the_record_its_caller_read_reads_back_as_one_written_without()
    {
        using var store = Open();
        var record = StoreFixtures.Record(1, 2);
        store.PutNeuronRecords([record]);
        var result = StoreFixtures.Done(record.NeuronId, "baseline") with { Results = StoreFixtures.ResultsOnRecord(record, "words") };
        store.PutExplanationResult(result);
        string without = Json(store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!.Results!, DatasetJson.Default.NeuronSimulationResults);
        store.PutExplanationResult(result, store.GetNeuronRecord(record.NeuronId));
        Assert.Equal(without, Json(store.GetExplanationResult(record.NeuronId, "baseline", "baseline")!.Results!, DatasetJson.Default.NeuronSimulationResults));
        var other = Assert.Throws<ArgumentException>(() => store.PutExplanationResult(result, StoreFixtures.Record(1, 3)));
        Assert.Contains("is the record of 1/3", other.Message);
    }

    /// <summary>A result with a given status and score, as the aggregate tests write them.</summary>
    static NeuronExplanationResult Scored(NeuronId id, string explainer, NeuronStatus status, double? score, bool control = false)
    {
        var result = StoreFixtures.Done(id, explainer, $"words {id.NeuronIndex}") with { Status = status, Control = control ? ControlKind.Shuffled : ControlKind.None };
        var chosen = result.Results!.ScoredExplanations[0];
        return result with
        {
            Results = result.Results with { ScoredExplanations = [chosen with { ScoredSimulation = chosen.ScoredSimulation with { EvCorrelationScore = score } }] },
        };
    }

    [Fact]
    public void Aggregates_kept_by_the_store_equal_those_recomputed_from_its_results_after_every_kind_of_write()
    {
        using var store = Open();
        var random = new Random(4);
        NeuronStatus[] statuses = [NeuronStatus.Done, NeuronStatus.Done, NeuronStatus.Failed, NeuronStatus.Pending, NeuronStatus.NoActivations];
        // Writes replace earlier results of the same neuron and pair often, with other statuses, scores and controls.
        for (int i = 0; i < 400; i++)
        {
            var id = new NeuronId(random.Next(3), random.Next(25));
            double? score = random.Next(6) == 0 ? null : Math.Round(random.NextDouble() * 2.2 - 1.1, random.Next(2, 16));
            MethodScore Method(string method) => random.Next(5) switch
            {
                0 => MethodScore.Failure(method, "no"),
                1 => new MethodScore(method, null, "constant"),
                _ => new MethodScore(method, Math.Round(random.NextDouble() * 2 - 1, 3), null),
            };
            var methods = new[] { "detection", "fuzzing", "simulation-correlation" }.Where(_ => random.Next(3) > 0).Select(Method).ToList();
            store.PutExplanationResult(Scored(id, random.Next(3) == 0 ? "gpt" : "baseline", statuses[random.Next(statuses.Length)], score, control: random.Next(8) == 0)
                with { Scores = methods });
            if (i % 50 != 49) continue;

            var byMethod = store.ListMethodScores()
                .GroupBy(r => (r.Explainer, r.Simulator, r.Neuron.LayerIndex, r.Neuron.KindKey, r.Score.Method, Control: r.Control != ControlKind.None))
                .OrderBy(g => g.Key.Explainer, StringComparer.Ordinal).ThenBy(g => g.Key.Simulator, StringComparer.Ordinal).ThenBy(g => g.Key.LayerIndex)
                .ThenBy(g => g.Key.Method, StringComparer.Ordinal).ThenBy(g => g.Key.Control).ToList();
            var methodTotals = store.ListMethodLayerScores();
            Assert.Equal(byMethod.Select(g => g.Key), methodTotals.Select(t => (t.Explainer, t.Simulator, t.Layer, t.Kind, t.Method, t.Control)));
            foreach (var (group, totals) in byMethod.Zip(methodTotals))
            {
                var values = group.Where(r => !r.Score.Failed).Select(r => r.Score.Value).OfType<double>().ToList();
                Assert.Equal((group.Count(), group.Count(r => r.Score.Failed), values.Count, values.Count(v => v >= ScoreAggregate.GoodScore)),
                    (totals.Scores, totals.Failed, totals.Defined, totals.Good));
                Assert.Equal(values.Sum(), totals.ScoreSum, 1e-9);
            }

            var expected = store.ListScores().Where(s => s.Control == ControlKind.None)
                .GroupBy(s => (s.Explainer, s.Simulator, s.Neuron.LayerIndex)).OrderBy(g => g.Key).ToList();
            var actual = store.ListPairLayerScores();
            Assert.Equal(expected.Select(g => g.Key), actual.Select(a => (a.Explainer, a.Simulator, a.Layer)));
            foreach (var (group, totals) in expected.Zip(actual))
            {
                var done = group.Where(s => s.Status == NeuronStatus.Done).ToList();
                var defined = done.Select(s => s.Score).OfType<double>().ToList();
                Assert.Equal((group.Count(), done.Count, group.Count(s => s.Status == NeuronStatus.Failed), defined.Count, defined.Count(s => s >= ScoreAggregate.GoodScore)),
                    (totals.Results, totals.Done, totals.Failed, totals.Defined, totals.Good));
                Assert.Equal(defined.Sum(), totals.ScoreSum, 1e-9);
                var histogram = new int[ScoreHistogram.Bins];
                foreach (double s in defined) histogram[ScoreHistogram.Bin(s)]++;
                Assert.Equal(histogram, totals.Histogram);
            }
            var byScore = store.ListScores().Where(s => s.Control == ControlKind.None && s.Status == NeuronStatus.Done && s.Score is not null && s.Explainer == "baseline")
                .OrderByDescending(s => s.Score).ThenBy(s => s.Neuron.LayerIndex).ThenBy(s => s.Neuron.NeuronIndex).ToList();
            Assert.Equal(byScore.Take(5), store.ExtremeScores("baseline", "baseline", 5, best: true));
            Assert.Equal(byScore.AsEnumerable().Reverse().Take(5), store.ExtremeScores("baseline", "baseline", 5, best: false));
        }
        Assert.Equal(store.ListNeurons().CountBy(n => n.LayerIndex).ToDictionary(), store.CountNeuronsByLayer());
        Assert.Equal(store.ListNeurons().Select(n => n.LayerIndex).Distinct().Order(), store.ListLayers());
    }
}

/// <summary>The store contract on the SQLite backend, opened through the factory from a run directory.</summary>
public sealed class SqliteStoreContractTests : NeuronStoreContract, IDisposable
{
    readonly TempDirectory temp = new();

    protected override INeuronStore Open() => NeuronStores.Open(temp.Sub("run"));

    protected override INeuronStore OpenExisting() => NeuronStores.OpenExisting(temp.Sub("run"));

    public void Dispose() => temp.Dispose();
}

/// <summary>The store contract on the PostgreSQL backend: each test in a schema of its own on the server test.sh starts.</summary>
public sealed class PostgresStoreContractTests : NeuronStoreContract, IDisposable
{
    readonly TempPostgresSchema schema = new();

    protected override INeuronStore Open() => NeuronStores.Open(schema.Url);

    protected override INeuronStore OpenExisting() => NeuronStores.OpenExisting(schema.Url);

    public void Dispose() => schema.Dispose();
}
