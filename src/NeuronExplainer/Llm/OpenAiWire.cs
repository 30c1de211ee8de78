using System.Text.Json;

namespace NeuronExplainer.Llm;

/// <summary>
/// The JSON of OpenAI's chat and legacy completions endpoints: request bodies written in a fixed field
/// order, and responses read into our records. A body that is not valid JSON of the expected shape
/// (e.g. cut off by a proxy) is a transient <see cref="LlmServerException"/>, so it is retried.
/// </summary>
internal static class OpenAiWire
{
    public static byte[] ChatBody(ChatRequest request) => Write(w =>
    {
        w.WriteString("model", request.Model);
        w.WriteStartArray("messages");
        foreach (var message in request.Messages)
        {
            w.WriteStartObject();
            w.WriteString("role", message.Role);
            w.WriteString("content", message.Content);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("max_tokens", request.MaxTokens);
        w.WriteNumber("temperature", request.Temperature);
        if (request.N != 1) w.WriteNumber("n", request.N);
        if (request.TopLogprobs is int top)
        {
            w.WriteBoolean("logprobs", true);
            w.WriteNumber("top_logprobs", top);
        }
    });

    public static byte[] CompletionBody(CompletionRequest request) => Write(w =>
    {
        w.WriteString("model", request.Model);
        w.WriteString("prompt", request.Prompt);
        w.WriteNumber("max_tokens", request.MaxTokens);
        w.WriteNumber("temperature", request.Temperature);
        if (request.N != 1) w.WriteNumber("n", request.N);
        if (request.Echo) w.WriteBoolean("echo", true);
        if (request.Logprobs is int top) w.WriteNumber("logprobs", top);
    });

    public static ChatResponse ParseChat(ReadOnlyMemory<byte> body) => Parse(body, root =>
    {
        var choices = new List<ChatChoice>();
        foreach (var choice in Required(root, "choices").EnumerateArray())
        {
            var message = Required(choice, "message");
            string content = message.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
            IReadOnlyList<TokenLogprob>? logprobs = null;
            if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object
                && lp.TryGetProperty("content", out var tokens) && tokens.ValueKind == JsonValueKind.Array)
                logprobs = tokens.EnumerateArray().Select(ChatToken).ToList();
            string? refusal = message.TryGetProperty("refusal", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            choices.Add(new ChatChoice(IndexOf(choice, choices.Count), content, logprobs, FinishReason(choice)) { Refusal = refusal });
        }
        return new ChatResponse(choices, Usage(root));
    });

    public static CompletionResponse ParseCompletion(ReadOnlyMemory<byte> body) => Parse(body, root =>
    {
        var choices = new List<CompletionChoice>();
        foreach (var choice in Required(root, "choices").EnumerateArray())
        {
            string text = Required(choice, "text").GetString() ?? "";
            IReadOnlyList<TokenLogprob>? logprobs = null;
            if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object)
                logprobs = LegacyTokens(lp);
            choices.Add(new CompletionChoice(IndexOf(choice, choices.Count), text, logprobs, FinishReason(choice)));
        }
        return new CompletionResponse(choices, Usage(root));
    });

    /// <summary>The model ids a <c>GET {base}/models</c> answer lists.</summary>
    public static IReadOnlyList<string> ParseModels(ReadOnlyMemory<byte> body) => Parse(body, root =>
        (IReadOnlyList<string>)Required(root, "data").EnumerateArray()
            .Select(m => Required(m, "id").GetString() ?? "").ToList());

    private static TokenLogprob ChatToken(JsonElement token)
    {
        List<TopLogprob> top = [];
        if (token.TryGetProperty("top_logprobs", out var t) && t.ValueKind == JsonValueKind.Array)
        {
            top.Capacity = t.GetArrayLength();
            foreach (var a in t.EnumerateArray()) top.Add(new TopLogprob(Required(a, "token").GetString() ?? "", Required(a, "logprob").GetDouble()));
        }
        return new TokenLogprob(Required(token, "token").GetString() ?? "", Required(token, "logprob").GetDouble(), MostLikelyFirst(top));
    }

    /// <summary>
    /// Sorts a position's alternatives most likely first, keeping the server's order among equals. An insertion sort: a position
    /// has at most 20, and a long reply has thousands of positions, where LINQ's OrderBy allocated several buffers each.
    /// </summary>
    private static List<TopLogprob> MostLikelyFirst(List<TopLogprob> top)
    {
        for (int i = 1; i < top.Count; i++)
        {
            var item = top[i];
            int j = i - 1;
            for (; j >= 0 && top[j].Logprob < item.Logprob; j--) top[j + 1] = top[j];
            top[j + 1] = item;
        }
        return top;
    }

    /// <summary>
    /// The legacy parallel arrays: <c>tokens</c>, <c>token_logprobs</c> (null for the first echoed token),
    /// <c>top_logprobs</c> (a token-to-logprob object per position, or null) and <c>text_offset</c>.
    /// </summary>
    private static List<TokenLogprob> LegacyTokens(JsonElement logprobs)
    {
        var tokens = Required(logprobs, "tokens");
        int count = tokens.GetArrayLength();
        var values = Optional(logprobs, "token_logprobs");
        var tops = Optional(logprobs, "top_logprobs");
        var offsets = Optional(logprobs, "text_offset");
        foreach (var (name, array) in new[] { ("token_logprobs", values), ("top_logprobs", tops), ("text_offset", offsets) })
            if (array is { } a && a.GetArrayLength() != count)
                throw Invalid($"logprobs.{name} has {a.GetArrayLength()} entries for {count} tokens");
        var result = new List<TokenLogprob>(count);
        // Enumerated side by side: indexing a JsonElement array of objects walks it from the start, quadratic over a long echoed prompt.
        var (valueAt, topAt, offsetAt) = (values?.EnumerateArray(), tops?.EnumerateArray(), offsets?.EnumerateArray());
        foreach (var token in tokens.EnumerateArray())
        {
            // Only an explicit null (the first echoed token) means "no logprob"; anything else must be a number.
            double? value = Next(ref valueAt) is { ValueKind: not JsonValueKind.Null } v ? v.GetDouble() : null;
            List<TopLogprob> top = [];
            if (Next(ref topAt) is { ValueKind: not JsonValueKind.Null } t)
            {
                foreach (var p in t.EnumerateObject()) top.Add(new TopLogprob(p.Name, p.Value.GetDouble()));
                MostLikelyFirst(top);
            }
            int? offset = Next(ref offsetAt)?.GetInt32();
            result.Add(new TokenLogprob(token.GetString() ?? "", value, top, offset));
        }
        return result;
    }

    /// <summary>The next element of a parallel array, or null when there is no such array.</summary>
    private static JsonElement? Next(ref JsonElement.ArrayEnumerator? array)
    {
        if (array is not { } a) return null;
        a.MoveNext();
        array = a;
        return a.Current;
    }

    private static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Array ? e : null;

    private static JsonElement Required(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null
            ? e
            : throw Invalid($"the response has no '{name}'");

    private static int IndexOf(JsonElement choice, int position) =>
        choice.TryGetProperty("index", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : position;

    private static string? FinishReason(JsonElement choice) =>
        choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;

    private static TokenUsage? Usage(JsonElement root) =>
        root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
        && u.TryGetProperty("prompt_tokens", out var p) && p.ValueKind == JsonValueKind.Number
            ? new TokenUsage(p.GetInt32(), u.TryGetProperty("completion_tokens", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0)
            {
                CachedPromptTokens = u.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
                    && details.TryGetProperty("cached_tokens", out var cached) && cached.ValueKind == JsonValueKind.Number ? cached.GetInt32() : 0,
            }
            : null;

    /// <remarks>Parsed in place: reading the value off a <see cref="Utf8JsonReader"/> first skipped over the whole body and then
    /// copied it, a fifth of the parse of a reply with top logprobs.</remarks>
    private static T Parse<T>(ReadOnlyMemory<byte> body, Func<JsonElement, T> read)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(body); }
        catch (JsonException e) { throw Invalid($"the response body is not valid JSON ({body.Length} bytes: {e.Message})", e); }
        using (document)
        {
            try { return read(document.RootElement); }
            catch (Exception e) when (e is InvalidOperationException or FormatException or IndexOutOfRangeException)
            {
                throw Invalid($"the response has an unexpected shape ({e.Message})", e);
            }
        }
    }

    private static LlmServerException Invalid(string message, Exception? inner = null) => new(message, null, transient: true, inner: inner);

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
