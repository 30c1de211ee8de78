using System.Text.Json;
using NeuronExplainer.Llm;
using NeuronExplainer.Models.Tokenizers;
using Xunit.Abstractions;

namespace NeuronExplainer.Tests.Llm;

/// <summary>The dry run's token estimate against a real byte-level BPE (GPT-2's) on real documents.</summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class TokenEstimateAccuracyTests(ITestOutputHelper output)
{
    private static readonly ByteLevelBpeTokenizer Gpt2 = ByteLevelBpeTokenizer.FromVocabAndMerges(
        SharedData.Path("models", "gpt2-tokenizer", "encoder.json"), SharedData.Path("models", "gpt2-tokenizer", "vocab.bpe"));

    [Fact]
    public void TheEstimateIsCloseToGpt2BpeOnWebTextAndTheBoundHolds()
    {
        var tokenizer = Gpt2;
        var documents = File.ReadLines(SharedData.Path("corpora", "webtext-test.jsonl")).Take(300)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!).ToList();

        long actual = 0, estimated = 0;
        var ratios = new List<double>();
        foreach (string text in documents)
        {
            int real = tokenizer.Encode(text).Length, guess = TokenEstimator.Estimate(text);
            Assert.True(TokenEstimator.UpperBound(text) >= real);
            actual += real;
            estimated += guess;
            if (real >= 50) ratios.Add((double)guess / real);
        }
        ratios.Sort();
        double total = (double)estimated / actual, p05 = ratios[ratios.Count / 20], p95 = ratios[ratios.Count * 19 / 20];
        output.WriteLine($"{documents.Count} documents: {actual:N0} GPT-2 tokens, {estimated:N0} estimated (ratio {total:0.000}); per-document ratio 5%..95%: {p05:0.000}..{p95:0.000}");
        Assert.InRange(total, 0.9, 1.1);
        Assert.InRange(p05, 0.8, 1.0);
        Assert.InRange(p95, 1.0, 1.2);
    }

    /// <summary>Simulator prompts are mostly one token per line: "token\tunknown".</summary>
    [Fact]
    public void TheEstimateIsCloseOnTokenPerLinePrompts()
    {
        string story = File.ReadAllText(SharedData.Path("corpora", "tinystories-train-head.txt"))[..20_000];
        var ids = Gpt2.Encode(story);
        string prompt = string.Concat(ids.Take(2000).Select(id => Gpt2.Decode([id]).Replace("\n", "\\n") + "\tunknown\n"));

        int real = Gpt2.Encode(prompt).Length, guess = TokenEstimator.Estimate(prompt);
        output.WriteLine($"token-per-line prompt: {real:N0} GPT-2 tokens, {guess:N0} estimated (ratio {(double)guess / real:0.000})");
        Assert.InRange((double)guess / real, 0.85, 1.15);
    }
}
