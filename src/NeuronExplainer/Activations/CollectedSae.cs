using System.Globalization;
using NeuronExplainer.Models;

namespace NeuronExplainer.Activations;

/// <summary>
/// One SAE whose latents a collection recorded in its manifest: the id its latents are named by (<c>sae:ID/I</c>), the
/// folder it was read from (scorers that run the SAE again read it there), its hook and that hook's layer.
/// </summary>
public sealed record CollectedSae(string Id, string Source, string Hook, int Layer)
{
    /// <summary>The ids of the collection's SAEs, comma-separated in id order.</summary>
    public const string IdsSetting = "collect.sae";
    /// <summary>A store of one SAE collected before several were possible: its folder and hook.</summary>
    const string OneSaeSource = "collect.sae_source", OneSaeHook = "collect.sae_hook";

    static string Setting(string id, string field) => $"collect.sae.{id}.{field}";

    /// <summary>
    /// The manifest entries of <paramref name="saes"/>: <c>collect.sae</c> (the ids) and per SAE
    /// <c>collect.sae.ID.source</c>, <c>.hook</c> and <c>.layer</c>.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> ToManifest(IEnumerable<CollectedSae> saes)
    {
        var list = saes.ToList();
        yield return new(IdsSetting, string.Join(',', list.Select(s => s.Id)));
        foreach (var sae in list)
        {
            yield return new(Setting(sae.Id, "source"), sae.Source);
            yield return new(Setting(sae.Id, "hook"), sae.Hook);
            yield return new(Setting(sae.Id, "layer"), sae.Layer.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// The SAEs a collection's manifest settings record, also from a store of one SAE written before several were
    /// possible (<c>collect.sae</c>, <c>collect.sae_source</c>, <c>collect.sae_hook</c>); none for other units.
    /// </summary>
    public static IReadOnlyList<CollectedSae> FromManifest(IReadOnlyDictionary<string, string> settings)
    {
        if (!settings.TryGetValue(IdsSetting, out var ids) || ids.Length == 0) return [];
        if (settings.TryGetValue(OneSaeSource, out var source) && settings.TryGetValue(OneSaeHook, out var hook))
            return [new CollectedSae(ids, source, hook, HookPoint.Parse(hook, int.MaxValue).Layer)];
        return ids.Split(',').Select(id =>
        {
            string Field(string field) => settings.GetValueOrDefault(Setting(id, field))
                ?? throw new NeuronExplainerException($"the store's manifest names SAE '{id}' in {IdsSetting} but has no {Setting(id, field)}; expected one for every SAE it names");
            return int.TryParse(Field("layer"), NumberStyles.None, CultureInfo.InvariantCulture, out int layer)
                ? new CollectedSae(id, Field("source"), Field("hook"), layer)
                : throw new NeuronExplainerException($"the store's manifest has {Setting(id, "layer")} '{Field("layer")}'; expected a layer number");
        }).ToArray();
    }

    /// <summary>
    /// <paramref name="settings"/> with a one-SAE store's older entries written as today's, so a collection compares
    /// equal to the same one collected before several SAEs were possible.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Upgrade(IReadOnlyDictionary<string, string> settings)
    {
        if (!settings.ContainsKey(OneSaeSource)) return settings;
        var upgraded = settings.Where(s => s.Key is not (IdsSetting or OneSaeSource or OneSaeHook)).ToDictionary();
        foreach (var (key, value) in ToManifest(FromManifest(settings))) upgraded[key] = value;
        return upgraded;
    }
}
