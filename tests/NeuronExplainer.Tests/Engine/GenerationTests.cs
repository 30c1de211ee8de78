using NeuronExplainer.Models;
using NeuronExplainer.Models.Hub;

namespace NeuronExplainer.Tests.Engine;

[Trait(TestCategory.Name, TestCategory.Slow)]
public class GenerationTests
{
    [Fact]
    public void Stories260KGreedyFromBosTellsAboutLily()
    {
        using var model = ModelLoader.Load(ModelLocator.Locate(EngineFixtures.Stories260K), "stories260K");
        Assert.Equal(1, model.Tokenizer.BosId);
        var ids = GreedyGenerator.Generate(model, [model.Tokenizer.BosId!.Value], maxTokens: 24).ToArray();
        var text = model.Tokenizer.Decode([1, .. ids]);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", text);
    }
}
