using System.Text.RegularExpressions;

namespace NeuronExplainer.Models.Hub;

/// <summary>
/// A model named on the hub: <c>name</c> or <c>org/name</c>, optionally a folder inside the repository
/// (<c>karpathy/tinyllamas/stories260K</c> is folder stories260K of karpathy/tinyllamas) and a revision
/// after <c>@</c> (<c>gpt2@main</c>).
/// </summary>
public sealed partial record HubModelId(HubRepo Repo, string Folder)
{
    [GeneratedRegex(@"^(?<repo>[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?)(?<folder>(?:/[A-Za-z0-9][\w.-]*)*)(?:@(?<revision>[\w.][\w./-]*))?$")]
    private static partial Regex Pattern();

    public static bool TryParse(string value, out HubModelId id)
    {
        id = null!;
        var match = Pattern().Match(value);
        if (!match.Success || value.Contains("..", StringComparison.Ordinal)) return false;
        string revision = match.Groups["revision"].Success ? match.Groups["revision"].Value : "main";
        id = new HubModelId(new HubRepo(HubRepoKind.Model, match.Groups["repo"].Value, revision), match.Groups["folder"].Value.TrimStart('/'));
        return true;
    }

    public override string ToString() => $"{Repo.Id}{(Folder.Length > 0 ? "/" + Folder : "")}@{Repo.Revision}";
}
