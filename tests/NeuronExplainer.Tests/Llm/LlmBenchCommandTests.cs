using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Llm;

/// <summary>
/// <c>bench llm</c> end to end with a short delay: its loopback server answers in shapes the real pipeline, explainer and
/// simulator accept (the explain+score row fails unless every neuron is stored as done). Nothing here is timed.
/// </summary>
public class LlmBenchCommandTests
{
    [Fact]
    public void Bench_llm_runs_both_rows_against_its_loopback_server_and_prints_calls_per_second()
    {
        var (code, output, error) = Run("bench", "llm", "--delay", "5", "--concurrency", "2", "--seconds", "0.3", "--waves", "1");
        Assert.True(code == 0, error + output);
        var rows = output.Split('\n').Where(l => l.Contains(" 2 ", StringComparison.Ordinal)).ToList();
        Assert.Contains(rows, r => r.Contains("pipeline", StringComparison.Ordinal));
        // 2 neurons x (1 explanation + 20 calibration + 20 valid simulations), every one answered by the server.
        Assert.Contains(rows, r => r.Contains("explain+score", StringComparison.Ordinal) && r.Contains(" 82 ", StringComparison.Ordinal));
        Assert.Contains("calls/s", output);
    }

    [Fact]
    public void Bench_llm_refuses_bad_numbers_in_one_line()
    {
        var (code, _, error) = Run("bench", "llm", "--concurrency", "0");
        Assert.Equal(1, code);
        Assert.Contains("--concurrency between 1 and 256", error);
    }
}
