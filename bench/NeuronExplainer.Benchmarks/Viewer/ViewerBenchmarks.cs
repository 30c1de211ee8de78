using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Benchmarks.Viewer;

/// <summary>
/// Viewer API latency over real HTTP on loopback against a 36,864-neuron store (GPT-2 small's count).
/// Targets: neuron API median under 50 ms, search median under 100 ms.
/// </summary>
[MedianColumn, MinColumn, MaxColumn]
public class ViewerBenchmarks
{
    SqliteNeuronStore store = null!;
    WebApplication app = null!;
    HttpClient http = null!;
    int next;

    [GlobalSetup]
    public void Setup()
    {
        store = SyntheticViewerStore.OpenOrBuild(Console.Out);
        app = ViewerApp.Build(store, new ViewerOptions(IPAddress.Loopback, 0));
        app.StartAsync().GetAwaiter().GetResult();
        http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        http.Dispose();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        store.Dispose();
    }

    // Different neurons and words on every call, so no call is answered from a page cache warmed by the previous one.
    [Benchmark]
    public int NeuronApi()
    {
        int i = Interlocked.Increment(ref next);
        int layer = i * 7 % SyntheticViewerStore.Layers, neuron = (int)((long)i * 2654435761 % SyntheticViewerStore.NeuronsPerLayer);
        return Get($"/api/neurons/{layer}/{neuron}");
    }

    [Benchmark]
    public int Search()
    {
        int i = Interlocked.Increment(ref next);
        return Get($"/api/search?q={SyntheticViewerStore.Topics[i % SyntheticViewerStore.Topics.Length]}");
    }

    [Benchmark]
    public int LayerApi() => Get($"/api/layers/{Interlocked.Increment(ref next) % SyntheticViewerStore.Layers}");

    [Benchmark]
    public int Summary() => Get("/api/summary");

    int Get(string path)
    {
        using var response = http.GetAsync(path).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
        return response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult().Length;
    }
}
