using System.Globalization;
using System.Net;

namespace NeuronExplainer.Llm;

/// <summary>
/// One failed attempt at a server: its HTTP status (null for network errors and broken bodies), whether
/// trying again can help, and the wait the server asked for. The pipeline retries the transient ones.
/// </summary>
internal sealed class LlmServerException(string message, int? status, bool transient, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public int? Status { get; } = status;
    public bool Transient { get; } = transient;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>429, 408, 409 and 5xx are worth retrying; other statuses (400, 401, 403, 404, ...) are not.</summary>
    public static bool IsTransientStatus(int status) => status is 408 or 409 or 429 || status >= 500;

    public static LlmServerException FromStatus(int status, string? retryAfterHeader, string body, DateTimeOffset now) =>
        new($"HTTP {status} {ReasonOf(status)}{Snippet(body)}", status, IsTransientStatus(status), ParseRetryAfter(retryAfterHeader, now));

    /// <summary>
    /// Retry-After is either delay-seconds or an HTTP date (RFC 9110 10.2.3); a date in the past means now.
    /// Unparsable values are ignored (null), so the normal backoff applies.
    /// </summary>
    public static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        value = value.Trim();
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
            return seconds >= 0 && double.IsFinite(seconds) ? TimeSpan.FromSeconds(seconds) : null;
        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            return date > now ? date - now : TimeSpan.Zero;
        return null;
    }

    private static string ReasonOf(int status) =>
        Enum.IsDefined(typeof(HttpStatusCode), status) ? ((HttpStatusCode)status).ToString() : "";

    /// <summary>
    /// The start of the server's error body, on one line and with anything shaped like an API key masked:
    /// OpenAI echoes part of a rejected key, and keys must never reach logs or errors.
    /// </summary>
    private static string Snippet(string body)
    {
        string text = SecretMask.Mask(string.Join(' ', body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
        if (text.Length == 0) return "";
        return ": " + (text.Length > 200 ? text[..200] + "..." : text);
    }
}

/// <summary>Masks API-key-like strings (sk-..., Bearer ...) in text that may be shown to the user.</summary>
internal static partial class SecretMask
{
    public static string Mask(string text) => KeyLike().Replace(text, m => m.Value.StartsWith("Bearer", StringComparison.OrdinalIgnoreCase) ? "Bearer ***" : "sk-***");

    [System.Text.RegularExpressions.GeneratedRegex(@"sk-[A-Za-z0-9_\-\*\.]+|Bearer\s+\S+", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex KeyLike();
}
