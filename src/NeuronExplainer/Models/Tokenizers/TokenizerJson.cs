using System.Text.Json;

namespace NeuronExplainer.Models.Tokenizers;

/// <summary>
/// Hugging Face tokenizer.json files whose model is BPE: byte-level ones (GPT-2's pre-tokenizer ByteLevel)
/// and relatives that add Split or Digits steps, like Llama 3 and SmolLM) load as
/// <see cref="ByteLevelBpeTokenizer"/>, Llama-2-style ones (Metaspace, byte fallback) as
/// <see cref="SentencePieceBpeTokenizer"/>. Added tokens are cut out of the text as their own ids (their
/// lstrip/rstrip/single_word flags are not applied). BOS and EOS come from tokenizer_config.json beside
/// the file when it names them, else &lt;s&gt; / &lt;/s&gt; (&lt;|endoftext|&gt; for byte-level).
/// Anything else in the file that would change the ids (other normalizers, pre-tokenizers or model
/// options) is refused with an error rather than ignored.
/// </summary>
public static class TokenizerJson
{
    public static ITokenizer Load(string path)
    {
        using var document = TokenizerFiles.ParseJson(path);
        var root = document.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new NeuronExplainerException($"{path}: no \"model\" object; expected a Hugging Face tokenizer.json");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (type != "BPE")
            throw new NeuronExplainerException($"{path}: model.type is '{type}', only BPE tokenizers are supported");
        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw new NeuronExplainerException($"{path}: model.vocab is missing or not an object");
        var vocab = TokenizerFiles.ReadVocabObject(vocabElement, $"{path} model.vocab");
        var merges = ReadMerges(model, path);
        var added = ReadAddedTokens(root, path);

        var specials = SpecialTokenNames(path);
        int? Id(string? token) => token is null ? null
            : added.Where(t => t.Text == token).Select(t => (int?)t.Id).FirstOrDefault() ?? (vocab.TryGetValue(token, out int id) ? id : null);

        var normalizer = Property(root, "normalizer");
        var preTokenizer = Property(root, "pre_tokenizer");
        foreach (var unsupported in new[] { "continuing_subword_prefix", "end_of_word_suffix", "dropout" })
            if (Property(model, unsupported) is { } value && !(value.ValueKind == JsonValueKind.String && value.GetString() == ""))
                throw new NeuronExplainerException($"{path}: model.{unsupported} = {value.GetRawText()} is not supported");

        if (preTokenizer is { } pre && Mentions(pre, "ByteLevel"))
        {
            if (normalizer is { } norm)
                throw new NeuronExplainerException($"{path}: normalizer {norm.GetRawText()} is not supported with byte-level BPE");
            return new ByteLevelBpeTokenizer(vocab, merges, added, Id(specials.Eos ?? ByteLevelBpeTokenizer.EndOfText), path,
                ByteLevelSteps(pre, path), ignoreMerges: Flag(model, "ignore_merges"));
        }
        return new SentencePieceBpeTokenizer(vocab, merges, added, Property(model, "unk_token")?.GetString(),
            Id(specials.Bos ?? "<s>"), Id(specials.Eos ?? "</s>"), SentencePieceOptions(model, normalizer, preTokenizer, path), path);
    }

    /// <summary>
    /// A byte-level pre-tokenizer as steps: ByteLevel (GPT-2's pattern unless use_regex is false), Split
    /// with behavior Isolated (Llama 3, Qwen2) and Digits (SmolLM), alone or in a Sequence.
    /// </summary>
    private static List<PreTokenizerStep> ByteLevelSteps(JsonElement pre, string path)
    {
        var steps = new List<PreTokenizerStep>();
        var items = pre.GetProperty("type").GetString() == "Sequence" ? pre.GetProperty("pretokenizers").EnumerateArray().ToList() : [pre];
        foreach (var item in items)
        {
            string type = Property(item, "type")?.GetString() ?? "";
            NeuronExplainerException Unsupported(string why) => new($"{path}: pre-tokenizer {item.GetRawText()} is not supported ({why})");
            switch (type)
            {
                case "ByteLevel":
                    if (Flag(item, "add_prefix_space")) throw Unsupported("add_prefix_space");
                    if (Property(item, "use_regex") is not { ValueKind: JsonValueKind.False }) steps.Add(PreTokenizerStep.Gpt2.Instance);
                    break;
                case "Split":
                    if (Property(item, "behavior")?.GetString() != "Isolated" || Flag(item, "invert")) throw Unsupported("only behavior Isolated without invert");
                    var pattern = Property(item, "pattern");
                    string regex = pattern is { } p && Property(p, "Regex")?.GetString() is { } r ? r
                        : pattern is { } q && Property(q, "String")?.GetString() is { } literal ? System.Text.RegularExpressions.Regex.Escape(literal)
                        : throw Unsupported("pattern must be {\"Regex\": ...} or {\"String\": ...}");
                    try
                    {
                        steps.Add(new PreTokenizerStep.Isolate(new System.Text.RegularExpressions.Regex(regex,
                            System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.Compiled)));
                    }
                    catch (ArgumentException e)
                    {
                        throw Unsupported($"the pattern does not compile as a .NET regex: {e.Message}");
                    }
                    break;
                case "Digits":
                    steps.Add(new PreTokenizerStep.Digits(Flag(item, "individual_digits")));
                    break;
                default:
                    throw Unsupported("with byte-level BPE only ByteLevel, Split (Isolated) and Digits are");
            }
        }
        return steps;
    }

    /// <summary>Llama-style settings: the legacy Prepend + Replace normalizer, or a Metaspace pre-tokenizer.</summary>
    private static SentencePieceBpeTokenizer.Options SentencePieceOptions(JsonElement model, JsonElement? normalizer, JsonElement? preTokenizer, string path)
    {
        var prefix = MetaspacePrefix.Never;
        bool metaspace = false, split = false;
        if (normalizer is { } norm)
        {
            var steps = norm.GetProperty("type").GetString() == "Sequence" ? norm.GetProperty("normalizers").EnumerateArray().ToList() : [norm];
            foreach (var step in steps)
            {
                string type = step.GetProperty("type").GetString() ?? "";
                if (type == "Prepend" && Property(step, "prepend")?.GetString() == "\u2581") prefix = MetaspacePrefix.EverySegment;
                else if (type == "Replace" && Property(step, "content")?.GetString() == "\u2581"
                    && Property(step, "pattern") is { } pattern && Property(pattern, "String")?.GetString() == " ") { }
                else throw new NeuronExplainerException($"{path}: normalizer {step.GetRawText()} is not supported (only Llama's Prepend \"\u2581\" and Replace \" \" -> \"\u2581\")");
            }
        }
        if (preTokenizer is { } pre)
        {
            if (pre.GetProperty("type").GetString() != "Metaspace")
                throw new NeuronExplainerException($"{path}: pre_tokenizer {pre.GetRawText()} is not supported for sentencepiece-style BPE (only Metaspace)");
            if (Property(pre, "replacement")?.GetString() is { } replacement && replacement != "\u2581")
                throw new NeuronExplainerException($"{path}: Metaspace replacement '{replacement}' is not supported (only \u2581)");
            metaspace = true;
            split = Property(pre, "split") is not { ValueKind: JsonValueKind.False };
            prefix = Property(pre, "prepend_scheme")?.GetString() switch
            {
                "always" => MetaspacePrefix.EverySegment,
                "first" => MetaspacePrefix.FirstSegment,
                "never" => MetaspacePrefix.Never,
                null => Property(pre, "add_prefix_space") is { ValueKind: JsonValueKind.False } ? MetaspacePrefix.Never : MetaspacePrefix.EverySegment,
                var other => throw new NeuronExplainerException($"{path}: Metaspace prepend_scheme '{other}' is not supported"),
            };
        }
        else if (normalizer is null)
            throw new NeuronExplainerException($"{path}: a BPE tokenizer without a ByteLevel or Metaspace pre-tokenizer or Llama's normalizer is not supported");
        return new SentencePieceBpeTokenizer.Options(prefix, StripsPrefixedMarker: metaspace, split,
            ByteFallback: Flag(model, "byte_fallback"), FuseUnknown: Flag(model, "fuse_unk"), IgnoreMerges: Flag(model, "ignore_merges"));
    }

    private static JsonElement? Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static bool Flag(JsonElement element, string name) => Property(element, name) is { ValueKind: JsonValueKind.True };

    /// <summary>bos_token / eos_token of tokenizer_config.json next to tokenizer.json (a string or {"content": ...}), when present.</summary>
    private static (string? Bos, string? Eos) SpecialTokenNames(string tokenizerPath)
    {
        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerPath))!, "tokenizer_config.json");
        if (!File.Exists(config)) return (null, null);
        using var document = TokenizerFiles.ParseJson(config);
        string? Name(string key) => Property(document.RootElement, key) is { } value
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : Property(value, "content")?.GetString()
            : null;
        return (Name("bos_token"), Name("eos_token"));
    }

    /// <summary>Whether a pre-tokenizer (or a Sequence of them) contains one of the given type.</summary>
    internal static bool Mentions(JsonElement element, string type)
    {
        if (element.ValueKind != JsonValueKind.Object) return false;
        if (element.TryGetProperty("type", out var t) && t.GetString() == type) return true;
        foreach (var listName in new[] { "pretokenizers", "normalizers", "decoders" })
            if (element.TryGetProperty(listName, out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var item in list.EnumerateArray())
                    if (Mentions(item, type)) return true;
        return false;
    }

    /// <summary>Merges as "left right" strings (older files) or ["left", "right"] pairs (newer files).</summary>
    internal static List<(string Left, string Right)> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new NeuronExplainerException($"{path}: model.merges is missing or not an array");
        int index = 0;
        foreach (var item in list.EnumerateArray())
        {
            string where = $"{path} model.merges[{index++}]";
            if (item.ValueKind == JsonValueKind.String) merges.Add(TokenizerFiles.SplitMerge(item.GetString()!, where));
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
                merges.Add((item[0].GetString()!, item[1].GetString()!));
            else throw new NeuronExplainerException($"{where}: expected \"left right\" or [\"left\", \"right\"], got {item.GetRawText()}");
        }
        return merges;
    }

    internal static List<(string Text, int Id)> ReadAddedTokens(JsonElement root, string path)
    {
        var added = new List<(string, int)>();
        if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind != JsonValueKind.Array) return added;
        int index = 0;
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value)
                || !item.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new NeuronExplainerException($"{path} added_tokens[{index}]: expected an object with an integer \"id\" and a string \"content\"");
            added.Add((content.GetString()!, value));
            index++;
        }
        return added;
    }
}
