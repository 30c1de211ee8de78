using NeuronExplainer.Models;

namespace NeuronExplainer.Tests.Engine;

public class GenerationTests
{
    [Fact]
    public void Stories260KGreedyFromBosTellsAboutLily()
    {
        using var model = ModelLoader.Load(EngineFixtures.Stories260K, tokenizerPath: null);
        Assert.Equal(1, model.Tokenizer.BosId);
        var ids = GreedyGenerator.Generate(model, [model.Tokenizer.BosId!.Value], maxTokens: 24).ToArray();
        var text = model.Tokenizer.Decode([1, .. ids]);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", text);
    }
}
