using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>
/// Everything collected about one neuron (OpenAI's <c>NeuronRecord</c>): the top-activating excerpts,
/// a uniform random sample, samples within activation quantiles, and the moments over all tokens.
/// Moments are null where OpenAI's files hold NaN (their serialiser writes NaN as null).
/// </summary>
public sealed record NeuronRecord(
    [property: JsonPropertyName("neuron_id")] NeuronId NeuronId,
    [property: JsonPropertyName("random_sample")] IReadOnlyList<ActivationRecord> RandomSample,
    [property: JsonPropertyName("random_sample_by_quantile")] IReadOnlyList<IReadOnlyList<ActivationRecord>>? RandomSampleByQuantile,
    [property: JsonPropertyName("quantile_boundaries")] IReadOnlyList<double>? QuantileBoundaries,
    [property: JsonPropertyName("mean")] double? Mean,
    [property: JsonPropertyName("variance")] double? Variance,
    [property: JsonPropertyName("skewness")] double? Skewness,
    [property: JsonPropertyName("kurtosis")] double? Kurtosis,
    [property: JsonPropertyName("most_positive_activation_records")] IReadOnlyList<ActivationRecord> MostPositiveActivationRecords)
    : DatasetRecord
{
    static readonly string[] TopSplits = ["train", "calibration", "valid", "test"];

    /// <summary>
    /// Share of the corpus's tokens on which the unit fires (activation above 0): collected for SAE latents, whose
    /// density says how sparse they are; null for neurons and for records imported from OpenAI's files.
    /// </summary>
    [JsonPropertyName("density"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Density { get; init; }
    static readonly string[] RandomSplits = ["calibration", "valid", "test"];

    /// <summary>Largest activation over the top-activating excerpts (the scale of the 0..10 prompt values).</summary>
    [JsonIgnore]
    public double MaxActivation => MostPositiveActivationRecords.Count == 0
        ? 0 : MostPositiveActivationRecords.Max(r => r.MaxActivation);

    /// <summary>Top excerpts used to write explanations.</summary>
    public IReadOnlyList<ActivationRecord> TrainRecords() => Slice(MostPositiveActivationRecords, TopSplits, "train");

    /// <summary>Calibration split: top and random excerpts 1:1 (choosing among explanations, revision).</summary>
    public IReadOnlyList<ActivationRecord> CalibrationRecords() => Split("calibration");

    /// <summary>Validation split: top and random excerpts 1:1 (the reported score).</summary>
    public IReadOnlyList<ActivationRecord> ValidRecords() => Split("valid");

    /// <summary>Test split, held out of everything this tool does.</summary>
    public IReadOnlyList<ActivationRecord> TestRecords() => Split("test");

    /// <summary>Only the top-activating part of a split (e.g. to report top-only scores).</summary>
    public IReadOnlyList<ActivationRecord> TopRecords(string split) => Slice(MostPositiveActivationRecords, TopSplits, split);

    /// <summary>Only the random part of a split.</summary>
    public IReadOnlyList<ActivationRecord> RandomRecords(string split) => Slice(RandomSample, RandomSplits, split);

    /// <summary>
    /// The record with only as many excerpts as <paramref name="perSplit"/> per split need (the first 4n top and 3n random
    /// ones), so every split holds at most n, taken as OpenAI's <c>n_examples_per_split</c> takes them: split s keeps
    /// indices s, s + S, ..., s + (n - 1) S. A record with fewer excerpts keeps them all.
    /// </summary>
    public NeuronRecord WithExcerptsPerSplit(int perSplit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSplit, 1);
        return this with
        {
            MostPositiveActivationRecords = [.. MostPositiveActivationRecords.Take(perSplit * TopSplits.Length)],
            RandomSample = [.. RandomSample.Take(perSplit * RandomSplits.Length)],
        };
    }

    /// <summary>A split's top and random excerpts 1:1: as many of each as the smaller part has (the strongest top ones first).</summary>
    IReadOnlyList<ActivationRecord> Split(string split)
    {
        var (top, random) = (TopRecords(split), RandomRecords(split));
        int n = Math.Min(top.Count, random.Count);
        return [.. top.Take(n), .. random.Take(n)];
    }

    /// <summary>
    /// OpenAI's interleaved split: with S splits and n = count / S records each, split s takes indices
    /// s, s + S, s + 2S, ... below n * S, so every split sees the whole range of activation ranks.
    /// </summary>
    static IReadOnlyList<ActivationRecord> Slice(IReadOnlyList<ActivationRecord> records, string[] splits, string split)
    {
        int s = Array.IndexOf(splits, split);
        if (s < 0) throw new ArgumentException($"unknown split '{split}'; expected one of {string.Join(", ", splits)}", nameof(split));
        int stride = splits.Length, perSplit = records.Count / stride;
        var result = new List<ActivationRecord>(perSplit);
        for (int i = s; i < perSplit * stride; i += stride) result.Add(records[i]);
        return result;
    }

    protected override void Validate()
    {
        if (NeuronId is null) throw new JsonException("NeuronRecord needs 'neuron_id'");
        if (RandomSample is null || MostPositiveActivationRecords is null)
            throw new JsonException("NeuronRecord needs 'random_sample' and 'most_positive_activation_records' (lists)");
        if (RandomSampleByQuantile is not null && QuantileBoundaries is not null
            && QuantileBoundaries.Count != RandomSampleByQuantile.Count + 1 && QuantileBoundaries.Count != RandomSampleByQuantile.Count - 1)
            throw new JsonException($"quantile_boundaries has {QuantileBoundaries.Count} values for {RandomSampleByQuantile.Count} quantiles");
    }
}
