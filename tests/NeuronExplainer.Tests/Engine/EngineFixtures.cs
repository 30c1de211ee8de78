using System.Text.Json;
using NeuronExplainer.Models;
using NeuronExplainer.Models.Checkpoints;

namespace NeuronExplainer.Tests.Engine;

/// <summary>Locates the engine's committed fixtures and ../shared's models for tests.</summary>
internal static class EngineFixtures
{
    public static string Directory => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "Engine");

    public static string Path(string name) => System.IO.Path.Combine(Directory, name);

    public static string Stories260K => SharedData.Path("models", "stories260K", "stories260K.bin");

    /// <summary>Token windows and reference outputs written by make_fixtures.py.</summary>
    public sealed record Reference(int Batch, int Seq, int[] Tokens, SafeTensorsFile Expected) : IDisposable
    {
        public static Reference Load(string tokensJson, string expectedSafetensors)
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(tokensJson));
            var root = json.RootElement;
            return new Reference(root.GetProperty("batch").GetInt32(), root.GetProperty("seq").GetInt32(),
                root.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray(), SafeTensorsFile.Open(expectedSafetensors));
        }

        public void Dispose() => Expected.Dispose();
    }

    /// <summary>Asserts element-wise agreement at 1e-4 relative to the larger of the value and the tensor's RMS (values near zero after cancellation have no meaningful relative error).</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, float tolerance = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        var rms = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(expected) / Math.Max(1, expected.Length));
        for (var i = 0; i < expected.Length; i++)
        {
            var scale = Math.Max(Math.Abs(expected[i]), rms);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale,
                $"{what}[{i}]: expected {expected[i]}, got {actual[i]} (tolerance {tolerance} x {scale})");
        }
    }
}

/// <summary>A tokenizer stand-in for tests that feed token ids directly to random-weight models.</summary>
internal sealed class IdTokenizer(int vocabSize) : ITokenizer
{
    public int VocabSize => vocabSize;
    public int? BosId => null;
    public int? EosId => null;
    public int[] Encode(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
    public string Decode(ReadOnlySpan<int> ids) => string.Join(' ', ids.ToArray());
    public string TokenString(int id) => $"<{id}>";
}
