using NeuronExplainer.Scoring;
namespace NeuronExplainer.Explanations;

/// <summary>
/// Maps the simulator's 0..10 values to the neuron's activation units (least squares of the true activations
/// on the simulated ones, fitted on the calibration split) so simulations can be shown beside real
/// activations. Only a positive slope is used: the map then leaves the correlation unchanged.
/// </summary>
public sealed record LinearCalibration(double Slope, double Intercept)
{
    /// <summary>Fits on paired values; null when the simulation is constant or the fit does not rise.</summary>
    public static LinearCalibration? Fit(IReadOnlyList<IReadOnlyList<double>> truth, IReadOnlyList<SequenceSimulation> simulations)
    {
        double[] x = [.. simulations.SelectMany(s => s.ExpectedActivations)];
        double[] y = [.. truth.SelectMany(t => t)];
        if (x.Length != y.Length || x.Length < 2) return null;
        double meanX = x.Average(), meanY = y.Average(), sxx = 0, sxy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxx += (x[i] - meanX) * (x[i] - meanX);
            sxy += (x[i] - meanX) * (y[i] - meanY);
        }
        if (!(sxx > 0) || !(sxy > 0)) return null;
        double slope = sxy / sxx;
        return new LinearCalibration(slope, meanY - slope * meanX);
    }

    public double Apply(double value) => Slope * value + Intercept;

    /// <summary>The simulation in activation units, keeping the 0..10 original as its uncalibrated simulation.</summary>
    public SequenceSimulation Apply(SequenceSimulation simulation) =>
        simulation with
        {
            ExpectedActivations = [.. simulation.ExpectedActivations.Select(Apply)],
            ActivationScale = ActivationScale.NeuronActivations,
            DistributionValues = [.. simulation.DistributionValues.Select(d => (IReadOnlyList<double>)[.. d.Select(Apply)])],
            UncalibratedSimulation = simulation,
        };
}
