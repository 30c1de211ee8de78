namespace NeuronExplainer.Tests.Activations;

/// <summary>A test class with its own temporary directory, deleted after each test.</summary>
public abstract class TempDirectoryTest : IDisposable
{
    protected readonly string directory = Directory.CreateTempSubdirectory("neuron-explainer-tests").FullName;

    public void Dispose()
    {
        Directory.Delete(directory, recursive: true);
        GC.SuppressFinalize(this);
    }
}
