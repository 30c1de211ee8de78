using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The settings that decide which excerpts a run explains and scores on, and with which simulator method by default.
/// <see cref="Ours"/> uses every excerpt of each split (collected with 40 top and 40 random: 10 train, 10 + 10
/// calibration, 10 + 10 valid) and the chat simulator. <see cref="Paper"/> reproduces OpenAI's settings: at most
/// <see cref="PaperExcerptsPerSplit"/> excerpts per split (their <c>n_examples_per_split</c>: explain from 5 top train
/// excerpts, choose and calibrate on 5 top + 5 random calibration ones, score on 5 top + 5 random valid ones), and the
/// all-at-once simulator wherever the server echoes prompt logprobs, else chat. A store records the protocol of its
/// results, so scores made under one are never mixed with scores made under the other.
/// </summary>
/// <param name="Name">The name a run and a store know it by.</param>
/// <param name="ExcerptsPerSplit">Excerpts of each split used at most; null for all.</param>
/// <param name="SimulatorMethod">The LLM simulator used when none is named; null: all-at-once if the server can, else chat.</param>
public sealed record ExplanationProtocol(string Name, int? ExcerptsPerSplit, string? SimulatorMethod)
{
    /// <summary>OpenAI's <c>ActivationRecordSliceParams(n_examples_per_split=5)</c>.</summary>
    public const int PaperExcerptsPerSplit = 5;

    public static readonly ExplanationProtocol Ours = new("ours", null, "chat");
    public static readonly ExplanationProtocol Paper = new("paper", PaperExcerptsPerSplit, null);
    public static IReadOnlyList<ExplanationProtocol> All { get; } = [Ours, Paper];

    /// <summary>The protocol called <paramref name="name"/>, or an error naming the setting and the known ones.</summary>
    public static ExplanationProtocol Find(string name) => All.FirstOrDefault(p => p.Name == name)
        ?? throw SettingException.Of<ExplanationSettings>(nameof(ExplanationSettings.Protocol),
            $"'{name}' is not known; expected {string.Join(" or ", All.Select(p => p.Name))}");

    /// <summary>The record as this protocol sees it: only the excerpts its splits use (the record itself under <see cref="Ours"/>).</summary>
    public NeuronRecord Excerpts(NeuronRecord record) => ExcerptsPerSplit is int n ? record.WithExcerptsPerSplit(n) : record;

    /// <summary>One line saying what the protocol uses, for a run's summary.</summary>
    public string Describe() => ExcerptsPerSplit is int n
        ? $"protocol {Name}: explain from at most {n} top train excerpts, calibrate on {n} top + {n} random calibration excerpts, score on {n} top + {n} random valid excerpts"
        : $"protocol {Name}: explain from every top train excerpt, calibrate on the calibration split and score on the valid split, top and random excerpts 1:1";
}
