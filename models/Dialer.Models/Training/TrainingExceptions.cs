namespace Dialer.Models.Training;

/// <summary>The history cannot train a model (too few usable rows, or only one outcome class).</summary>
public sealed class InsufficientHistoryException(string message) : Exception(message);

/// <summary>The managed evaluator disagreed with ML.NET, so the model was not published.</summary>
public sealed class ModelParityException(string message) : Exception(message);
