using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Explanations;

public class SplitTests
{
    static ActivationRecord Excerpt(double value) => new([" a"], [value]);

    [Fact]
    public void Calibration_and_valid_hold_top_and_random_excerpts_one_to_one()
    {
        // 12 top excerpts give 3 per split; 15 random give 5 per split, of which 3 are used.
        var record = new NeuronRecord(new NeuronId(0, 0), [.. Enumerable.Range(0, 15).Select(i => Excerpt(-i))], null, null, null, null, null, null,
            [.. Enumerable.Range(0, 12).Select(i => Excerpt(100 - i))]);
        Assert.Equal([99, 95, 91, 0, -3, -6], record.CalibrationRecords().Select(r => r.Activations[0]));
        Assert.Equal([98, 94, 90, -1, -4, -7], record.ValidRecords().Select(r => r.Activations[0]));
        Assert.Equal([100, 96, 92], record.TrainRecords().Select(r => r.Activations[0]));
        Assert.Equal([97, 93, 89, -2, -5, -8], record.TestRecords().Select(r => r.Activations[0]));
    }

    [Fact]
    public async Task A_record_without_random_excerpts_fails_with_a_reason()
    {
        var cat = SyntheticNeurons.Cat();
        var record = cat with { RandomSample = [] };
        var result = await new ExplanationFlow(new BaselineExplainer(), new BaselineSimulator(), new ExplanationFlowOptions())
            .ExplainAndScoreAsync(new ExplainerInput(record, null), CancellationToken.None);
        Assert.Equal(NeuronStatus.Failed, result.Status);
        Assert.Contains("40 top and 0 random excerpts", result.Reason);
    }
}
