using System.CommandLine;
using System.Diagnostics;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Hub;
using NeuronExplainer.Models.Sae;
using NeuronExplainer.Storage;
using Spectre.Console;

namespace NeuronExplainer.Cli.Commands;

/// <summary><c>collect</c>: runs a model over a corpus and stores every selected neuron's records.</summary>
public static class CollectCommand
{
    const int IssuesShown = 10;

    public static Command Create()
    {
        var options = new CollectOptions();
        var command = new Command("collect", """
            Collect per-neuron activation records (top-activating, random and per-quantile excerpts, moments),
            token lookup tables and weight-based connections in one pass over a corpus. A killed collect resumes
            from its last checkpoint when run again.

            Examples:
              neuron-explainer collect --model ../shared/models/stories260K/stories260K.bin --corpus ../shared/corpora/tinystories-train-head.txt --store runs/stories260K
              neuron-explainer collect --model gpt2 --corpus webtext.jsonl --store runs/gpt2 --layers 0,3-5 --max-tokens 2000000
              neuron-explainer collect --model gpt2 --corpus webtext.jsonl --store runs/gpt2-heads --units heads --layers 0-5
              neuron-explainer collect --model gpt2 --corpus webtext.jsonl --store runs/gpt2-res-jb-8 --sae res-jb-8=jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre
              neuron-explainer collect --model gpt2 --corpus webtext.jsonl --store runs/gpt2-res-jb --sae res-jb-4=jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre --sae res-jb-8=jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre
            """);
        options.AddTo(command);
        command.SetAction(options.Execute);
        return command;
    }

    /// <summary>
    /// The options of <c>collect</c> and what they do, also used by <c>run</c>, which shares its <c>--store</c> and
    /// <c>--layers</c> with the explain options and offers no <c>--force</c> (it never discards a store it works in).
    /// </summary>
    internal sealed class CollectOptions(Option<string>? sharedStore = null, Option<string>? sharedLayers = null)
    {
        readonly ModelOptions model = new();
        readonly Option<string> corpus = new("--corpus") { Description = "Corpus: text (<|endoftext|> or blank-line separated), JSONL, .gz of either, parquet, or a directory of them; or a Hugging Face dataset id ORG/NAME[@REVISION][:GLOB], downloaded on first use", Required = true };
        readonly Option<string> store = sharedStore ?? new("--store") { Description = "Run directory of the store to fill, or a postgresql:// store URL", Required = true };
        readonly Option<string> layers = sharedLayers ?? new("--layers") { Description = "Layers to collect: all, or a list such as 0,3-5", DefaultValueFactory = _ => "all" };
        readonly Option<int> seqLen = new("--seq-len") { Description = "Tokens per window", DefaultValueFactory = _ => 64 };
        readonly Option<int> topK = new("--top-k") { Description = "Top-activating windows kept per neuron", DefaultValueFactory = _ => 40 };
        readonly Option<int> random = new("--random") { Description = "Uniformly random windows kept per neuron", DefaultValueFactory = _ => 40 };
        readonly Option<int> quantiles = new("--quantiles") { Description = "Quantile bins of the per-window max activation", DefaultValueFactory = _ => 5 };
        readonly Option<int> perQuantile = new("--per-quantile") { Description = "Random windows kept per quantile bin", DefaultValueFactory = _ => 10 };
        readonly Option<long?> maxTokens = new("--max-tokens") { Description = "Stop after this many tokens (default: the whole corpus)" };
        readonly Option<ulong> seed = new("--seed") { Description = "Seed of the random samples", DefaultValueFactory = _ => 0 };
        readonly Option<int> minCount = new("--min-token-count") { Description = "Occurrences a token needs to enter a neuron's token lookup table", DefaultValueFactory = _ => 5 };
        readonly Option<DocumentSeparator> separator = new("--separator") { Description = "Document separator of text files", DefaultValueFactory = _ => DocumentSeparator.EndOfText };
        readonly Option<string> textField = new("--text-field") { Description = "JSONL field or parquet column holding the text", DefaultValueFactory = _ => "text" };
        readonly Option<int> batch = new("--batch") { Description = "Windows per forward pass", DefaultValueFactory = _ => 32 };
        readonly Option<string?> checkpointDir = new("--checkpoint-dir") { Description = "Directory for checkpoint and shard-state files (default: beside a SQLite store; for a postgresql:// store, this user's local data directory); corpus shards run on several machines need one directory all of them see, one per store" };
        readonly Option<int> checkpointEvery = new("--checkpoint-every") { Description = "Windows between checkpoints, each taken at the next document boundary; fewer means a killed collect redoes less when run again, at the cost of more writes", DefaultValueFactory = _ => new CollectionSettings().CheckpointWindows };
        readonly Option<string?> memory = new("--memory") { Description = "Memory the collection state may use, e.g. 6G or 512M (default: three quarters of what the runtime may still allocate, which respects container limits and DOTNET_GCHeapHardLimit); the plan is printed, and refused before any work when it does not fit" };
        readonly Option<string[]> sae = new("--sae") { Description = "Collect the latents of this sparse autoencoder instead of MLP neurons: [ID=]PATH_OR_HUB_ID, a folder in SAELens's (cfg.json + sae_weights.safetensors) or sparsify's (cfg.json + sae.safetensors) layout or a hub repository plus its folder; ID (letters, digits, . _ -) names the latents sae:ID/I, by default the folder's name. Repeatable: every SAE given (distinct ids, any layers and hooks) is collected into the store in one pass" };
        readonly Option<string> unitKind = new("--units") { Description = "Units to collect: neurons (MLP neurons) or heads (attention heads, head:L/H; activation = the norm of the head's output at each token, with the tokens each token attends to most)", DefaultValueFactory = _ => "neurons" };
        readonly Option<string?> corpusShard = new("--corpus-shard")
        {
            Description = "Collect shard I of N (I/N, from 0/N): run the forward pass on every N-th batch; the last shard to finish merges all shards' states and writes the records (run each shard into the same store)",
        };
        readonly Option<string> weightViews = new("--weight-views")
        {
            Description = "all: after the pass, compute each neuron's weight-based input/output tokens and connections (an SAE's decoder output tokens); none: leave them out (for GPT-2 XL they are about 250 TFLOP, hours on a CPU)",
            DefaultValueFactory = _ => "all",
        };
        readonly Option<bool> force = new("--force") { Description = "Discard a store holding a collection with other settings (and everything made from it)" };

        /// <summary>Adds the options; shared ones are left to their owner.</summary>
        public void AddTo(Command command)
        {
            model.AddTo(command);
            foreach (Option option in new Option[] { corpus, store, layers, seqLen, topK, random, quantiles, perQuantile, maxTokens, seed,
                         minCount, separator, textField, batch, checkpointEvery, checkpointDir, memory, corpusShard, unitKind, sae, weightViews })
                if (option != sharedStore && option != sharedLayers)
                    command.Options.Add(option);
            if (sharedStore is null) command.Options.Add(force);
        }

        public int Execute(ParseResult parse)
        {
            Collect(parse);
            return 0;
        }

        /// <summary>
        /// Runs the collection and prints its summary; <paramref name="before"/> sees the collector (model loaded) just
        /// before it runs (the benchmark pairs every batch with the bare forward pass there).
        /// </summary>
        internal CollectionSummary Collect(ParseResult parse, Action<Collector>? before = null)
        {
            var stderr = parse.InvocationConfiguration.Error;
            var console = TableConsole.For(stderr);
            var settings = new CollectionSettings
            {
                Layers = IndexList.Parse(parse.GetValue(layers)!, "--layers")?.ToArray(),
                SequenceLength = parse.GetValue(seqLen),
                TopK = parse.GetValue(topK),
                RandomSamples = parse.GetValue(random),
                Quantiles = parse.GetValue(quantiles),
                PerQuantile = parse.GetValue(perQuantile),
                MaxTokens = parse.GetValue(maxTokens),
                Seed = parse.GetValue(seed),
                MinTokenCount = parse.GetValue(minCount),
                BatchWindows = parse.GetValue(batch),
                WeightViews = parse.GetValue(weightViews) switch
                {
                    "all" => true,
                    "none" => false,
                    var other => throw new SettingException("--weight-views", $"'{other}' is not known; expected all or none"),
                },
                CheckpointWindows = parse.GetValue(checkpointEvery),
                CheckpointDirectory = parse.GetValue(checkpointDir),
                MemoryBudget = parse.GetValue(memory) is { } size ? MemoryPlanner.ParseSize(size, "--memory") : null,
                CorpusShard = parse.GetValue(corpusShard) is { } shard
                    ? CorpusShard.TryParse(shard) ?? throw new SettingException("--corpus-shard", $"'{shard}' is not I/N; expected e.g. 0/4 for the first of 4 shards")
                    : null,
            };
            var corpusOptions = new CorpusOptions(parse.GetValue(corpus)!, parse.GetValue(separator), parse.GetValue(textField)!);
            if (HubCorpus.IsDatasetId(corpusOptions.Path))
            {
                using var progress = new HubDownloadDisplay(TableConsole.For(stderr));
                using var hub = new HubClient(HubOptions.FromEnvironment(), progress);
                corpusOptions = HubCorpus.ResolveAsync(corpusOptions, hub).GetAwaiter().GetResult();
            }
            // A local model is recorded by its full path, so the same files reached another way are not a different run.
            string modelName = parse.GetValue(model.Model)!;
            if (File.Exists(modelName) || Directory.Exists(modelName)) modelName = Path.GetFullPath(modelName);
            // The --sae values are checked before the model loads.
            var saeValues = parse.GetValue(sae) ?? [];
            var named = SaeArguments(saeValues);
            using var loaded = model.Load(parse);
            IReadOnlyList<UnitSource> units = [UnitSource.MlpNeurons(loaded.Info)];
            string kind = parse.GetValue(unitKind)!;
            if (kind is not ("neurons" or "heads"))
                throw new SettingException("--units", $"'{kind}' is not a unit kind to collect; expected neurons or heads");
            if (kind == "heads")
                units = saeValues.Length == 0 ? [UnitSource.AttentionHeads(loaded)]
                    : throw new SettingException("--units", "heads and --sae both name the units to collect; a store holds one kind, so give one of them");
            else if (saeValues.Length > 0)
            {
                using var progress = new HubDownloadDisplay(TableConsole.For(stderr));
                units = named.Select((n, i) =>
                {
                    try
                    {
                        return UnitSource.SaeLatents(SaeLoader.Load(SaeLocator.Locate(n.Location, HubOptions.FromEnvironment(), progress)), n.Id, loaded.Info);
                    }
                    catch (NeuronExplainerException e)
                    {
                        // With several SAEs the value says which one.
                        throw new NeuronExplainerException($"--sae '{saeValues[i]}': {e.Message}", e);
                    }
                }).ToArray();
            }
            var collector = new Collector(loaded, settings, corpusOptions, modelName, units);
            collector.EnsureCorpusHasAWindow();

            string storeDirectory = parse.GetValue(store)!;
            var neuronStore = NeuronStores.Open(storeDirectory);
            try
            {
                if (collector.Conflict(neuronStore.GetManifest()) is { } conflict && parse.GetValue(force))
                {
                    console.MarkupLineInterpolated($"[yellow]discarding store {storeDirectory}[/] (it held another collection: {conflict})");
                    neuronStore.Dispose();
                    NeuronStores.Discard(storeDirectory);
                    neuronStore = NeuronStores.Open(storeDirectory);
                }
                before?.Invoke(collector);
                var summary = Run(stderr, console, collector, neuronStore);
                var output = TableConsole.For(parse.InvocationConfiguration.Output);
                PrintSummary(output, summary, loaded.Info, storeDirectory, units);
                return summary;
            }
            finally
            {
                neuronStore.Dispose();
            }
        }
    }

    static CollectionSummary Run(TextWriter stderr, IAnsiConsole console, Collector collector, ICollectionOutput store)
    {
        var issues = 0;
        void OnIssue(CorpusIssue issue)
        {
            if (++issues <= IssuesShown) console.MarkupLineInterpolated($"[yellow]skipped[/] {issue.ToString()}");
            else if (issues == IssuesShown + 1) console.MarkupLine("[yellow]further skipped lines are only counted[/]");
        }

        var clock = Stopwatch.StartNew();
        return ConsoleProgress.Run(stderr, "collecting", report => collector.Run(store, CliApp.ToolVersion, progress =>
        {
            double rate = progress.Tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
            report(progress.Fraction, $"{progress.Stage}: {progress.Tokens:N0} tokens, {progress.Windows:N0} windows, {rate:N0} tokens/s");
        }, OnIssue, onPlan: plan =>
        {
            clock.Restart();
            foreach (var line in plan.Describe()) console.MarkupLineInterpolated($"[grey]{SettingFlags.Text(line)}[/]");
        }));
    }

    /// <summary>The <c>--sae</c> values' ids and locations; two values of one id are refused, naming both.</summary>
    internal static IReadOnlyList<(string Id, string Location)> SaeArguments(IReadOnlyList<string> values)
    {
        var named = values.Select(SaeArgument).ToArray();
        for (int i = 0; i < named.Length; i++)
            for (int j = 0; j < i; j++)
                if (named[i].Id == named[j].Id)
                    throw new NeuronExplainerException(
                        $"--sae '{values[j]}' and --sae '{values[i]}' both name SAE id '{named[i].Id}'; a store's SAEs need distinct ids, so name one of them with ID=PATH_OR_HUB_ID");
        return named;
    }

    /// <summary>
    /// A <c>--sae</c> value: <c>ID=LOCATION</c>, or a location whose last folder (without <c>@revision</c>) gives the id,
    /// characters outside [A-Za-z0-9._-] replaced by '-'.
    /// </summary>
    internal static (string Id, string Location) SaeArgument(string value)
    {
        int equals = value.IndexOf('=');
        if (equals > 0 && !File.Exists(value) && !Directory.Exists(value))
        {
            string named = value[..equals];
            if (!System.Text.RegularExpressions.Regex.IsMatch(named, "^[A-Za-z0-9._-]+$"))
                throw new NeuronExplainerException($"--sae '{value}': the id '{named}' before '=' may hold only letters, digits, '.', '_' and '-'");
            return (named, value[(equals + 1)..]);
        }
        string last = Path.GetFileName(Path.TrimEndingDirectorySeparator(value.Split('@')[0]));
        string id = System.Text.RegularExpressions.Regex.Replace(last, "[^A-Za-z0-9._-]", "-");
        return (id.Length > 0 ? id : "sae", value);
    }

    static void PrintSummary(IAnsiConsole console, CollectionSummary summary, ModelInfo model, string store, IReadOnlyList<UnitSource> units)
    {
        var saes = units.Where(u => u.Sae is not null).OrderBy(u => u.SaeId, StringComparer.Ordinal).ToList();
        string what = saes.Count > 0 ? $"latents of SAE{(saes.Count == 1 ? "" : "s")} {string.Join(", ", saes.Select(u => $"{u.SaeId} at {u.Sae!.Config.Hook}"))}"
            : units[0].Kind == UnitKind.AttentionHead ? "attention heads" : "neurons";
        if (summary.AlreadyComplete)
        {
            console.MarkupLineInterpolated($"store {store} already holds this collection ({summary.Neurons} {what} of {model.Name}); nothing to do");
            return;
        }
        var table = new Table().AddColumns("", "");
        table.HideHeaders();
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("model", $"{model.Name} ({model.Architecture})");
        Row(units[0].Kind == UnitKind.Neuron ? "neurons" : "units", units[0].Kind == UnitKind.Neuron ? $"{summary.Neurons} ({summary.Layers} layers x {model.MlpDim})" : $"{summary.Neurons} {what}");
        Row("corpus", $"{summary.Documents:N0} documents, {summary.Windows:N0} windows, {summary.Tokens:N0} tokens" + (summary.Resumed ? " (resumed from a checkpoint)" : ""));
        Row("skipped lines", $"{summary.SkippedLines:N0}");
        Row("time", summary.Resumed
            ? $"{summary.Elapsed.TotalSeconds:F1} s since resuming"
            : $"{summary.Elapsed.TotalSeconds:F1} s, {summary.Tokens / Math.Max(summary.Elapsed.TotalSeconds, 1e-3):N0} tokens/s");
        Row("forward / bookkeeping", $"{summary.ForwardTime.TotalSeconds:F2} s / {summary.BookkeepingTime.TotalSeconds:F2} s (+{100 * summary.BookkeepingTime.TotalSeconds / Math.Max(summary.ForwardTime.TotalSeconds, 1e-9):F0}% on the forward pass)");
        Row("counting (census read)", $"{summary.CensusTime.TotalSeconds:F2} s");
        if (summary.Shard is { } shard)
            Row("corpus shard", summary.MergedShards > 0
                ? $"{shard}: the last to finish; merged the states of all {summary.MergedShards} shards and wrote the records"
                : $"{shard}: its state is saved; the last shard to finish merges every shard's state and writes the records");
        Row("reading, tokenizing, checkpoints", $"{(summary.Elapsed - summary.BareForwardTime - summary.CensusTime - summary.ForwardTime - summary.BookkeepingTime - summary.FinishTime).TotalSeconds:F2} s, of which {summary.CheckpointTime.TotalSeconds:F2} s writing checkpoints");
        Row("records, tables, weights", $"{summary.FinishTime.TotalSeconds:F2} s to build and store: token tables {summary.TablesTime.TotalSeconds:F2} s, weight views {summary.WeightViewsTime.TotalSeconds:F2} s, "
            + $"recomputing {summary.RecomputedWindows:N0} windows in {summary.Plan?.Groups.Count} {summary.Plan?.Block} group(s) {summary.RecomputeTime.TotalSeconds:F2} s, records {summary.RecordsTime.TotalSeconds:F2} s");
        Row("peak memory", $"{Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB working set; at most {summary.PeakKeptWindows:N0} windows kept");
        Row("store", store);
        console.Write(table);
    }
}
