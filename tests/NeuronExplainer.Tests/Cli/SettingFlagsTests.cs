using NeuronExplainer.Activations;
using NeuronExplainer.Cli;
using NeuronExplainer.Tests.Activations;

namespace NeuronExplainer.Tests.Cli;

/// <summary>Library errors name the setting and value; the CLI shows the flag that sets it, and no flag that does not exist.</summary>
public class SettingFlagsTests
{
    static SettingException Invalid(CollectionSettings settings) =>
        Assert.Throws<SettingException>(() => settings.Validate(new FakeModel().Info));

    [Fact]
    public void A_collection_setting_error_names_the_setting_and_the_cli_names_its_flag()
    {
        var e = Invalid(new CollectionSettings { TopK = 0 });
        Assert.Equal(("CollectionSettings.TopK", "is 0; expected 1..10000"), (e.Setting, e.Problem));
        Assert.Equal("--top-k is 0; expected 1..10000", SettingFlags.Message(e));
        Assert.Equal("--layers names layer 9 but fake has layers 0..2", SettingFlags.Message(Invalid(new CollectionSettings { Layers = [9] })));
    }

    [Fact]
    public void A_setting_without_a_flag_keeps_the_library_name_instead_of_inventing_one()
    {
        var e = Invalid(new CollectionSettings { CheckpointWindows = 0 });
        Assert.Equal("CollectionSettings.CheckpointWindows is 0; expected at least 1", SettingFlags.Message(e));
        Assert.DoesNotContain("--checkpoint-every", e.Message);
    }
}
