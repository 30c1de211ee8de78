using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>Which evidence an <see cref="LlmExplainer"/> shows the model.</summary>
public enum ExplainerStyle
{
    /// <summary>The paper's explainer: train excerpts as token/activation pairs.</summary>
    TokenActivationPair,
    /// <summary>The neuron's activation-based top tokens only.</summary>
    TokenLookupTable,
}

/// <summary>
/// An explainer that asks a chat model. All samples come from one request with <c>n</c> choices (the prompt is
/// paid once). A failed call becomes a rejected attempt with the server's reason; the budget and dry-run
/// signals pass through so the run can stop cleanly. A reply none of whose choices is a usable explanation is not
/// cached, so running the neuron again asks the server again.
/// </summary>
public sealed class LlmExplainer(ILlmClient client, string model, ExplainerStyle style = ExplainerStyle.TokenActivationPair,
    double temperature = 1.0, int maxTokens = 80) : IExplainer
{
    public string Name => $"{(style == ExplainerStyle.TokenActivationPair ? "token-activation-pair" : "token-lookup-table")}:{model}";

    public async Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
    {
        IReadOnlyList<ChatMessage> messages;
        // A head's record without attended tokens (imported, say) gets the neuron prompt: values alone.
        if (style == ExplainerStyle.TokenActivationPair && input.Neuron.Kind == Activations.UnitKind.AttentionHead
            && input.Record.TrainRecords() is var train && train.All(r => r.Attended is not null))
            messages = ExplainerPrompts.HeadTokenPairs(train);
        else if (style == ExplainerStyle.TokenActivationPair)
            messages = ExplainerPrompts.TokenActivationPairs(input.Record.TrainRecords());
        else if (input.TokenTable is { Tokens.Count: > 0 } table)
            messages = ExplainerPrompts.TokenLookupTable(table);
        else
            return [ExplanationAttempt.Failed("the neuron has no activation-based token table; collect computes it")];
        return await AskAsync(input, messages, samples, cancellationToken);
    }

    public async Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken)
    {
        var messages = ExplainerPrompts.Revision(current, counterexamples, input.Record.MaxActivation);
        return (await AskAsync(input, messages, 1, cancellationToken))[0];
    }

    async Task<IReadOnlyList<ExplanationAttempt>> AskAsync(ExplainerInput input, IReadOnlyList<ChatMessage> messages, int samples,
        CancellationToken cancellationToken)
    {
        ChatResponse response;
        try
        {
            response = await client.ChatAsync(new ChatRequest(model, messages, maxTokens, temperature, samples),
                LlmCallContext.Explain(input.Neuron), Rejection, cancellationToken);
        }
        catch (LlmCallFailedException e)
        {
            return [.. Enumerable.Repeat(ExplanationAttempt.Failed(e.Message), samples)];
        }
        var attempts = Read(response);
        if (attempts.Count < samples)
            attempts.AddRange(Enumerable.Repeat(ExplanationAttempt.Failed($"the server returned {response.Choices.Count} of {samples} requested choices"),
                samples - attempts.Count));
        return attempts;
    }

    // A reply is kept (cached) when at least one of its choices is an explanation.
    string? Rejection(ChatResponse reply)
    {
        var read = Read(reply);
        return read.Any(a => a.Text is not null) ? null : read.FirstOrDefault()?.Rejection ?? "the reply has no choices";
    }

    List<ExplanationAttempt> Read(ChatResponse response) =>
        [.. response.Choices.Select(c => c.FinishReason == "length"
            ? ExplanationAttempt.Failed($"the reply was cut off at {maxTokens} tokens; an explanation is one short phrase")
            : ExplanationAttempt.FromText(ExplainerPrompts.ParseReply(c.Content)))];
}
