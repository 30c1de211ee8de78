using NeuronExplainer.Scoring;
namespace NeuronExplainer.Explanations;

/// <summary>
/// Maps the simulator's 0..10 values to the neuron's activation units (least squares of the true activations
/// on the simulated ones, fitted on the calibration split) so simulations can be shown beside real
/// activations. Only a positive slope is used: the map then leaves the correlation unchanged.
/// </summary>
public sealed record LinearCalibration(double Slope, double Intercept)
{
    /// <summary>
    /// Fits on paired values; null with the <paramref name="rejection"/> when there is too little to fit, the simulation
    /// is constant or the fit does not rise. Without a calibration a simulation stays on the 0..10 scale, where only the
    /// correlation means anything.
    /// </summary>
    public static LinearCalibration? Fit(IReadOnlyList<IReadOnlyList<double>> truth, IReadOnlyList<SequenceSimulation> simulations, out string? rejection)
    {
        double[] x = [.. simulations.SelectMany(s => s.ExpectedActivations)];
        double[] y = [.. truth.SelectMany(t => t)];
        rejection = x.Length != y.Length ? $"{y.Length} calibration activations but {x.Length} simulated values"
            : x.Length < 2 ? "fewer than 2 calibration tokens" : null;
        if (rejection is not null) return null;
        double meanX = x.Average(), meanY = y.Average(), sxx = 0, sxy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxx += (x[i] - meanX) * (x[i] - meanX);
            sxy += (x[i] - meanX) * (y[i] - meanY);
        }
        rejection = !(sxx > 0) ? "the simulation is constant on calibration"
            : !(sxy > 0) ? "the simulation does not rise with the true activations on calibration" : null;
        if (rejection is not null) return null;
        double slope = sxy / sxx;
        return new LinearCalibration(slope, meanY - slope * meanX);
    }

    public double Apply(double value) => Slope * value + Intercept;

    /// <summary>The simulation in activation units, keeping the 0..10 original as its uncalibrated simulation.</summary>
    public SequenceSimulation Apply(SequenceSimulation simulation)
    {
        double[] expected = [.. simulation.ExpectedActivations.Select(Apply)];
        return simulation with
        {
            ExpectedActivations = expected,
            ActivationScale = ActivationScale.NeuronActivations,
            // A point mass stays one: its value moves with its expected value.
            DistributionValues = simulation.IsPointMass ? new PointMassValues(expected)
                : [.. simulation.DistributionValues.Select(d => (IReadOnlyList<double>)[.. d.Select(Apply)])],
            UncalibratedSimulation = simulation,
        };
    }
}
