using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Tokenizers;

namespace NeuronExplainer.Benchmarks;

/// <summary>
/// Encode throughput on the shared corpora (one core), as collection tokenises whole corpora.
/// Throughput in MB/s = corpus UTF-8 bytes / mean time; the corpus sizes are printed in the benchmark's
/// setup line. Run: dotnet run -c Release --project bench/NeuronExplainer.Benchmarks -- --filter '*Tokenizer*'
/// (needs ../shared or NEURON_EXPLAINER_SHARED pointing at the shared data folder).
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private List<string> webtext = [];
    private List<string> stories = [];
    private ITokenizer gpt2 = null!;
    private ITokenizer tok512 = null!;

    [GlobalSetup]
    public void Setup()
    {
        string shared = FindShared();
        gpt2 = TokenizerLoader.Load(Path.Combine(shared, "models", "gpt2-tokenizer"));
        tok512 = TokenizerLoader.Load(Path.Combine(shared, "models", "stories260K", "tok512.bin"));
        webtext = File.ReadLines(Path.Combine(shared, "corpora", "webtext-test.jsonl")).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToList();
        stories = File.ReadAllText(Path.Combine(shared, "corpora", "tinystories-train-head.txt")).Split("<|endoftext|>").ToList();
        Console.WriteLine($"// webtext {webtext.Sum(Encoding.UTF8.GetByteCount)} bytes, tinystories {stories.Sum(Encoding.UTF8.GetByteCount)} bytes");
    }

    /// <summary>Encode with the word cache warm (steady state while tokenising a corpus).</summary>
    [Benchmark]
    public int Gpt2Webtext() => webtext.Sum(d => gpt2.Encode(d).Length);

    [Benchmark]
    public int Llama2cTinyStories() => stories.Sum(d => tok512.Encode(d).Length);

    /// <summary>Encode from a cold cache: a fresh tokenizer per run (includes loading the vocabulary).</summary>
    [Benchmark]
    public int Gpt2WebtextColdCache()
    {
        var fresh = TokenizerLoader.Load(Path.Combine(FindShared(), "models", "gpt2-tokenizer"));
        return webtext.Sum(d => fresh.Encode(d).Length);
    }

    private static string FindShared()
    {
        if (Environment.GetEnvironmentVariable("NEURON_EXPLAINER_SHARED") is { Length: > 0 } configured) return configured;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "corpora"))) return candidate;
        }
        throw new InvalidOperationException("shared data folder not found; set NEURON_EXPLAINER_SHARED");
    }
}
