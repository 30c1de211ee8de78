namespace NeuronExplainer;

/// <summary>
/// A failure the user can act on (bad input file, unreachable server, refused store). Its message is
/// one clear line naming the file, field or value and what was expected; the CLI prints it without a
/// stack trace and exits with 1.
/// </summary>
public class NeuronExplainerException(string message, Exception? inner = null) : Exception(message, inner);
