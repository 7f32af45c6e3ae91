namespace Dialer.Models.Interop;

/// <summary>An XGBoost C API call failed, or the native library is missing; the message is XGBoost's own.</summary>
public sealed class XGBoostException(string message) : Exception(message);
