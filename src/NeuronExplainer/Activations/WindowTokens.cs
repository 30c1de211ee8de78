namespace NeuronExplainer.Activations;

/// <summary>
/// Token ids of the windows some sampler still holds, reference counted, so a record's tokens can be
/// rebuilt at the end while windows that every sampler has dropped are forgotten at once.
/// </summary>
public sealed class WindowTokens
{
    readonly Dictionary<long, (int[] Tokens, int References)> windows = [];

    public int Count => windows.Count;

    public long TokenCount { get; private set; }

    public void Retain(TokenWindow window)
    {
        if (windows.TryGetValue(window.Id, out var held)) windows[window.Id] = (held.Tokens, held.References + 1);
        else
        {
            windows[window.Id] = (window.Tokens, 1);
            TokenCount += window.Tokens.Length;
        }
    }

    public void Release(long id)
    {
        var (tokens, references) = windows[id];
        if (references > 1) windows[id] = (tokens, references - 1);
        else
        {
            windows.Remove(id);
            TokenCount -= tokens.Length;
        }
    }

    public int[] Tokens(long id) => windows[id].Tokens;

    internal void Write(BinaryWriter writer)
    {
        writer.Write(windows.Count);
        foreach (var (id, (tokens, references)) in windows.OrderBy(w => w.Key))
        {
            writer.Write(id);
            writer.Write(references);
            Checkpointing.Write(writer, tokens);
        }
    }

    internal void Read(BinaryReader reader)
    {
        windows.Clear();
        TokenCount = 0;
        int count = reader.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            long id = reader.ReadInt64();
            int references = reader.ReadInt32();
            var tokens = Checkpointing.ReadArray<int>(reader);
            windows[id] = (tokens, references);
            TokenCount += tokens.Length;
        }
    }
}
