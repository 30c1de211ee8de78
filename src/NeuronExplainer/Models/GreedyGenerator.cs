using System.Numerics.Tensors;

namespace NeuronExplainer.Models;

/// <summary>
/// Greedy decoding by re-running the forward pass over the growing context (no key/value cache: this is a
/// sanity check of the forward pass, not a serving path). The context keeps the model's last
/// <see cref="ModelInfo.MaxContext"/> tokens.
/// </summary>
public static class GreedyGenerator
{
    /// <summary>Yields up to <paramref name="maxTokens"/> next-token ids, stopping at the tokenizer's EOS.</summary>
    public static IEnumerable<int> Generate(ITransformerModel model, IReadOnlyList<int> prompt, int maxTokens)
    {
        if (prompt.Count == 0) throw new NeuronExplainerException("generation needs at least one prompt token (BOS or text)");
        var context = prompt.ToList();
        var vocab = model.Info.VocabSize;
        var request = new ForwardRequest([], Logits: true);
        for (var step = 0; step < maxTokens; step++)
        {
            if (context.Count > model.Info.MaxContext) context.RemoveRange(0, context.Count - model.Info.MaxContext);
            var logits = model.Forward(context.ToArray(), 1, context.Count, request).Logits!.Value.Span;
            var next = TensorPrimitives.IndexOfMax(logits.Slice((context.Count - 1) * vocab, vocab));
            if (next == model.Tokenizer.EosId) yield break;
            context.Add(next);
            yield return next;
        }
    }
}
