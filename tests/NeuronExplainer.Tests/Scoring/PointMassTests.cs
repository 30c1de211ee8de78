using System.Text.Json;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Tests.Scoring;

public class PointMassTests
{
    static readonly string[] Tokens = [" a", " b", " c"];
    static readonly double[] Values = [0, 4.2, 10];

    /// <summary>The same point masses spelled as lists, as an importer or an older build makes them.</summary>
    static SequenceSimulation AsLists(IReadOnlyList<double> values, ActivationScale scale = ActivationScale.SimulatedNormalizedActivations) =>
        new(Tokens, values, scale, [.. values.Select(v => (IReadOnlyList<double>)[v])], [.. values.Select(_ => (IReadOnlyList<double>)[1.0])]);

    [Fact]
    public void A_point_mass_reads_and_writes_as_the_lists_it_stands_for()
    {
        var mass = SequenceSimulation.PointMass(Tokens, Values, ActivationScale.SimulatedNormalizedActivations);
        Assert.Equal(JsonSerializer.Serialize(AsLists(Values)), JsonSerializer.Serialize(mass));
        Assert.Equal(Values, mass.DistributionValues.Select(d => Assert.Single(d)));
        Assert.All(mass.DistributionProbabilities, p => Assert.Equal(1.0, Assert.Single(p)));
        Assert.Equal(3, mass.DistributionValues.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => mass.DistributionProbabilities[3]);
    }

    [Fact]
    public void Only_one_value_at_the_expected_value_with_probability_one_is_a_point_mass()
    {
        Assert.True(SequenceSimulation.PointMass(Tokens, Values, ActivationScale.NeuronActivations).IsPointMass);
        Assert.True(AsLists(Values).IsPointMass);
        Assert.False((AsLists(Values) with { ExpectedActivations = [0, 4.2, 9.9] }).IsPointMass);
        Assert.False((AsLists(Values) with { DistributionProbabilities = [[1.0], [0.5], [1.0]] }).IsPointMass);
        Assert.False((AsLists(Values) with { DistributionValues = [[0.0], [4.2, 5.0], [10.0]] }).IsPointMass);
        Assert.False(ScoringFixtures.Simulation(Values).IsPointMass);
    }

    [Fact]
    public void Calibration_moves_a_point_mass_with_its_expected_value_and_every_value_of_a_distribution()
    {
        var calibration = new LinearCalibration(0.5, 0.25);
        var mass = calibration.Apply(SequenceSimulation.PointMass(Tokens, Values, ActivationScale.SimulatedNormalizedActivations) with { Method = "baseline" });
        var lists = calibration.Apply(AsLists(Values) with { Method = "baseline" });
        Assert.True(mass.IsPointMass);
        Assert.Equal(JsonSerializer.Serialize(lists), JsonSerializer.Serialize(mass));
        Assert.Equal([0.25, 2.35, 5.25], mass.ExpectedActivations);
        Assert.Equal(ActivationScale.NeuronActivations, mass.ActivationScale);
        Assert.Equal("baseline", mass.Method);
        Assert.Equal(Values, mass.UncalibratedSimulation!.ExpectedActivations);

        var spread = calibration.Apply(ScoringFixtures.Simulation(Values, ActivationScale.SimulatedNormalizedActivations));
        Assert.All(spread.DistributionValues, d => Assert.Equal([0.25, 5.25], d));
        Assert.False(spread.IsPointMass);
    }
}
