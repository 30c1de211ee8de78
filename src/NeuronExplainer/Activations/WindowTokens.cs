namespace NeuronExplainer.Activations;

/// <summary>
/// Token ids of the windows some sampler still holds, reference counted, so a record's tokens can be
/// rebuilt at the end while windows that every sampler has dropped are forgotten at once. Each window also
/// keeps its place in the first pass (batch size and position): the second pass runs it in the same place,
/// because a GEMM backend may round a row differently at another position or batch size.
/// </summary>
public sealed class WindowTokens
{
    readonly Dictionary<long, (int[] Tokens, int References, int Place)> windows = [];

    public int Count => windows.Count;

    public long TokenCount { get; private set; }

    public void Retain(TokenWindow window)
    {
        if (windows.TryGetValue(window.Id, out var held)) windows[window.Id] = held with { References = held.References + 1 };
        else
        {
            windows[window.Id] = (window.Tokens, 1, -1);
            TokenCount += window.Tokens.Length;
        }
    }

    /// <summary>Holds window <paramref name="id"/> as <paramref name="other"/> holds it (tokens and first-pass place): a merge of shards.</summary>
    public void RetainFrom(WindowTokens other, long id)
    {
        var (tokens, _, place) = other.windows[id];
        if (windows.TryGetValue(id, out var held)) windows[id] = held with { References = held.References + 1 };
        else
        {
            windows[id] = (tokens, 1, place);
            TokenCount += tokens.Length;
        }
    }

    public void Release(long id)
    {
        var held = windows[id];
        if (held.References > 1) windows[id] = held with { References = held.References - 1 };
        else
        {
            windows.Remove(id);
            TokenCount -= held.Tokens.Length;
        }
    }

    public int[] Tokens(long id) => windows[id].Tokens;

    /// <summary>Records where a held window ran in the first pass (windows no sampler holds are ignored).</summary>
    public void Place(long id, int batchSize, int position)
    {
        if (windows.TryGetValue(id, out var held)) windows[id] = held with { Place = batchSize << 16 | position };
    }

    /// <summary>The first pass's batch size and the window's position in that batch.</summary>
    public (int BatchSize, int Position) PlaceOf(long id) => windows[id].Place is var place and >= 0
        ? (place >> 16, place & 0xFFFF)
        : throw new InvalidOperationException($"window {id} has no first-pass place");

    internal void Write(BinaryWriter writer)
    {
        writer.Write(windows.Count);
        foreach (var (id, (tokens, references, place)) in windows.OrderBy(w => w.Key))
        {
            writer.Write(id);
            writer.Write(references);
            writer.Write(place);
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
            int references = reader.ReadInt32(), place = reader.ReadInt32();
            var tokens = Checkpointing.ReadArray<int>(reader);
            windows[id] = (tokens, references, place);
            TokenCount += tokens.Length;
        }
    }
}
