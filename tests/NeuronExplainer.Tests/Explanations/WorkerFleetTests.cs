using System.Diagnostics;
using System.Text;
using NeuronExplainer.Cli;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Llm;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>
/// Worker processes (the CLI, each a process of its own) sharing one PostgreSQL store, on all 860 neurons of
/// stories260K, against the loopback fake LLM server: one is killed with SIGKILL mid-run and another started in its place.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class WorkerFleetTests : IDisposable
{
    readonly TempPostgresSchema schema = new();
    readonly TempDirectory temp = new();

    public void Dispose()
    {
        schema.Dispose();
        temp.Dispose();
    }

    static string[] CollectArgs(string store)
    {
        string model = SharedData.Path("models/stories260K/stories260K.bin"), corpus = SharedData.Path("corpora/tinystories-train-head.txt");
        return ["collect", "--model", model, "--tokenizer", Path.Combine(Path.GetDirectoryName(model)!, "tok512.bin"), "--corpus", corpus,
            "--store", store, "--max-tokens", "20000", "--top-k", "20", "--random", "12"];
    }

    /// <summary>A worker process running the CLI with <paramref name="args"/>, its output kept for the failure message.</summary>
    sealed class Worker : IDisposable
    {
        readonly StringBuilder output = new();
        public Process Process { get; }

        public Worker(IEnumerable<string> args)
        {
            var start = new ProcessStartInfo("dotnet", ["exec", Path.Combine(AppContext.BaseDirectory, "neuron-explainer.dll"), .. args])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            Process = Process.Start(start)!;
            Process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            Process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public string Output { get { lock (output) return output.ToString(); } }

        public async Task<int> ExitAsync()
        {
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(15));
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill();
            Process.Dispose();
        }
    }

    static async Task AllSucceed(IEnumerable<Worker> workers)
    {
        foreach (var worker in workers) Assert.True(await worker.ExitAsync() == 0, worker.Output);
    }

    long Count(string sql) => TestPostgres.Scalar<long>(sql.Replace("{s}", schema.Schema, StringComparison.Ordinal));

    [Fact]
    public async Task Three_workers_one_killed_and_replaced_explain_every_neuron_once_as_one_sqlite_process_does()
    {
        // The run takes minutes on a busy machine: the server lives long enough for it.
        await using var server = await FakeOpenAiServer.StartAsync(TimeSpan.FromMinutes(30));
        // An explanation that depends on the prompt, so neurons differ; the same prompt always gets the same one.
        string[] words = ["cats", "dogs", "the", "ran", "happy", "mom", "ball", "said", "park", "tree", "big", "sun"];
        // The simulator gets a value line for each "unknown" slot of its excerpt, also from the prompt.
        server.ChatContent = (request, _) =>
        {
            string last = request.Messages[^1];
            uint hash = (uint)string.Join('\n', request.Messages).GetHashCode(StringComparison.Ordinal);
            if (!last.Contains(SimulatorPrompts.Unknown, StringComparison.Ordinal)) return $"words like {words[(int)(hash % words.Length)]}";
            string excerpt = last[last.LastIndexOf(PromptFormat.StartMarker, StringComparison.Ordinal)..];
            int slots = excerpt.Split('\n').Count(l => l.EndsWith("\t" + SimulatorPrompts.Unknown, StringComparison.Ordinal));
            return string.Join('\n', Enumerable.Range(0, slots).Select(i => ((hash + i * 7) % 11).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        };
        server.Delay = TimeSpan.FromMilliseconds(5);
        string prices = Path.Combine(temp.Path, "prices.json");
        File.WriteAllText(prices, """{"fake-chat": {"prompt_per_million": 10, "completion_per_million": 10}}""");
        string[] Explain(string store) => ["explain", "--store", store, "--explainer", "fake-chat", "--simulator", "fake-chat", "--base-url", server.BaseUrl.ToString(),
            "--prices", prices, "--concurrency", "4", "--lease", "3", "--max-cost", "1000"];

        // The single-process reference, on SQLite. Collection is seeded, so both stores get the same records.
        string sqlite = temp.Sub("sqlite");
        foreach (var args in new[] { CollectArgs(sqlite), Explain(sqlite) })
        {
            var (code, _, err) = CliRunner.Run(args);
            Assert.True(code == 0, err);
        }
        int referenceCalls = server.Count(FakeOpenAiServer.Chat);
        Assert.True(referenceCalls >= 860, $"{referenceCalls} calls");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        var collected = CliRunner.Run(CollectArgs(schema.Url));
        Assert.True(collected.Code == 0, collected.Err);
        Assert.Equal(860L, Count("SELECT count(*) FROM {s}.neurons"));

        var workers = Enumerable.Range(0, 3).Select(_ => new Worker(Explain(schema.Url))).ToList();
        try
        {
            // Kill the first worker once it has stored results and holds claims: mid-run, with neurons in its hands.
            var victim = workers[0];
            string mine = $"owner LIKE '%:{victim.Process.Id}:%'";
            var waited = Stopwatch.StartNew();
            while (!(Count("SELECT count(*) FROM {s}.explanation_results") >= 100 && Count($"SELECT count(*) FROM {{s}}.work_claims WHERE {mine}") > 0))
            {
                Assert.False(victim.Process.HasExited, "the worker to kill finished before it could be killed mid-run:\n" + victim.Output);
                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(10), "no worker stored 100 results in 10 minutes:\n" + victim.Output);
                await Task.Delay(50);
            }
            victim.Process.Kill();
            await victim.Process.WaitForExitAsync();
            long stored = Count("SELECT count(*) FROM {s}.explanation_results"), held = Count($"SELECT count(*) FROM {{s}}.work_claims WHERE {mine}");
            Assert.True(stored < 860, $"all {stored} results were stored before the kill");
            Assert.True(held > 0, "the killed worker held no claims");

            var status = CliRunner.Run("status", "--store", schema.Url);
            Assert.True(status.Code == 0, status.Err);
            Assert.Contains("workers alive (holding claims): ", status.Out);
            Assert.Contains("token-activation-pair:fake-chat / chat:fake-chat: done 0", status.Out);
            Assert.Contains("of the $1000 budget", status.Out);

            workers.Add(new Worker(Explain(schema.Url)));
            await AllSucceed(workers.Skip(1));
            Assert.Equal(0L, Count("SELECT count(*) FROM {s}.work_claims"));
            // Only the killed worker's budget reservations (at most one per call it had in flight) are left, to lapse.
            Assert.InRange(Count("SELECT count(*) FROM {s}.llm_reservations"), 0, 4);
        }
        finally
        {
            foreach (var worker in workers) worker.Dispose();
        }

        // Every neuron explained once, and no request paid twice: one paid ledger entry per distinct request (cache entry),
        // and the same distinct requests as the single process. (How many of those one process shares between its own
        // concurrent identical calls depends on timing, so paid counts are compared with the cache, not between runs.)
        Assert.Equal(860L, Count("SELECT count(*) FROM {s}.explanation_results"));
        long distinct = Count("SELECT count(*) FROM {s}.llm_cache");
        Assert.Equal(distinct, Count("SELECT count(*) FROM {s}.ledger WHERE NOT from_cache"));
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(sqlite, SqliteNeuronStore.FileName)};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "SELECT key FROM llm_cache";
            var keys = new List<string>();
            using (var reader = command.ExecuteReader())
                while (reader.Read()) keys.Add(reader.GetString(0));
            Assert.Equal(keys.Count, (int)distinct);
            Assert.Equal(0L, Count($"SELECT count(*) FROM {{s}}.llm_cache WHERE NOT key = ANY(ARRAY['{string.Join("','", keys)}'])"));
        }
        // The killed worker's calls in flight may have reached the server, unpaid in the ledger; no more than its 4 at once.
        Assert.InRange(server.Count(FakeOpenAiServer.Chat) - referenceCalls, distinct, distinct + 4);

        using var reference = NeuronStores.OpenExisting(sqlite, StoreAccess.ReadOnly);
        using var fleet = NeuronStores.OpenExisting(schema.Url, StoreAccess.ReadOnly);
        var expected = reference.ListScores();
        Assert.Equal(860, expected.Count);
        Assert.Equal(expected, fleet.ListScores());
        Assert.True(expected.All(e => e is { Status: NeuronStatus.Pending, Explanation: not null } or { Status: NeuronStatus.NoActivations }),
            string.Join('\n', reference.ListExplanationResults().Where(r => r.Status is not (NeuronStatus.Pending or NeuronStatus.NoActivations)).Take(3).Select(r => $"{r.Neuron} {r.Status} {r.Reason}")));
        Assert.Equal(fleet.ListLedger().Sum(e => e.Cost), fleet.GetBudget(DateTimeOffset.UtcNow).Spent);
    }
}
