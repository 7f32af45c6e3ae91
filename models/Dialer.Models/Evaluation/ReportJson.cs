using System.Text.Json;
using System.Text.Json.Serialization;
using Dialer.Models.Training;

namespace Dialer.Models.Evaluation;

/// <summary>snake_case JSON for the model reports (DESIGN.md: auc, log_loss, brier, ece ...).</summary>
public static class ReportJson
{
    public static string Serialize(EvalReport report) => JsonSerializer.Serialize(report, ReportJsonContext.Default.EvalReport);

    public static string Serialize(TrainReport report) => JsonSerializer.Serialize(report, ReportJsonContext.Default.TrainReport);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(EvalReport))]
[JsonSerializable(typeof(TrainReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;
