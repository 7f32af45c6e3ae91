using System.Globalization;
using System.Text;
using Dialer.Models.Features;

namespace Dialer.Models.Evaluation;

/// <summary>The headline scores of a set of predictions; JSON keys are snake_case (auc, log_loss, brier, ece).</summary>
public record Scores
{
    public int Rows { get; init; }
    public int LiveAnswers { get; init; }
    public double ObservedRate { get; init; }
    public double MeanPredicted { get; init; }

    /// <summary>Null when the rows hold only one class.</summary>
    public double? Auc { get; init; }
    public double LogLoss { get; init; }
    public double Brier { get; init; }
    public double Ece { get; init; }

    internal static (Scores Scores, IReadOnlyList<ReliabilityBin> Reliability) Compute(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int bins)
    {
        var (ece, reliability) = Metrics.Calibration(p, y, bins);
        double live = 0, predicted = 0;
        for (int i = 0; i < p.Length; i++)
        {
            live += y[i];
            predicted += p[i];
        }
        int n = Math.Max(p.Length, 1);
        var scores = new Scores
        {
            Rows = p.Length,
            LiveAnswers = (int)live,
            ObservedRate = live / n,
            MeanPredicted = predicted / n,
            Auc = Metrics.Auc(p, y),
            LogLoss = Metrics.LogLoss(p, y),
            Brier = Metrics.Brier(p, y),
            Ece = ece,
        };
        return (scores, reliability);
    }
}

/// <summary>Scores of one region.</summary>
public sealed record RegionScores : Scores
{
    public string Region { get; init; }

    internal RegionScores(string region, Scores scores) : base(scores) => Region = region;
}

/// <summary>Predicted vs observed live-answer rate in one region at one callee-local hour.</summary>
public sealed record RegionHourCell(string Region, int Hour, int Rows, double MeanPredicted, double ObservedRate);

/// <summary>Evaluation of a model on a history: overall, per region, and region × hour.</summary>
public sealed record EvalReport : Scores
{
    /// <summary>Shown for rows whose region the model never saw in training.</summary>
    public const string UnseenRegion = "(unseen)";

    /// <summary>AUC of the simulator's true probabilities (p_live_true), the best any model can reach; null without them.</summary>
    public double? BayesAuc { get; init; }
    public IReadOnlyList<ReliabilityBin> Reliability { get; init; } = [];
    public IReadOnlyList<RegionScores> Regions { get; init; } = [];
    public IReadOnlyList<RegionHourCell> RegionHours { get; init; } = [];

    private EvalReport(Scores scores) : base(scores) { }

    /// <summary>Scores <paramref name="predictions"/> of the rows of <paramref name="features"/>.</summary>
    public static EvalReport Compute(FeatureSchema schema, FeatureMatrix features, ReadOnlySpan<float> predictions, ReadOnlySpan<float> trueProbabilities, int bins)
    {
        var labels = features.Labels;
        var (overall, reliability) = Scores.Compute(predictions, labels, bins);
        var byRegion = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var cells = new Dictionary<(string Region, int Hour), (int Rows, double Predicted, double Live)>();
        for (int i = 0; i < features.Rows; i++)
        {
            var row = features.Row(i);
            string region = schema.RegionOf(row[FeatureSchema.Region]) ?? UnseenRegion;
            if (!byRegion.TryGetValue(region, out var rows)) byRegion[region] = rows = [];
            rows.Add(i);
            var key = (region, (int)row[FeatureSchema.LocalHour]);
            var c = cells.GetValueOrDefault(key);
            cells[key] = (c.Rows + 1, c.Predicted + predictions[i], c.Live + labels[i]);
        }
        var regions = new List<RegionScores>();
        foreach (var (region, rows) in byRegion.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var p = new float[rows.Count];
            var y = new float[rows.Count];
            for (int k = 0; k < rows.Count; k++) (p[k], y[k]) = (predictions[rows[k]], labels[rows[k]]);
            regions.Add(new RegionScores(region, Scores.Compute(p, y, bins).Scores));
        }
        return new EvalReport(overall)
        {
            BayesAuc = trueProbabilities.IsEmpty ? null : Metrics.Auc(trueProbabilities, labels),
            Reliability = reliability,
            Regions = regions,
            RegionHours = cells
                .OrderBy(kv => kv.Key.Region, StringComparer.Ordinal).ThenBy(kv => kv.Key.Hour)
                .Select(kv => new RegionHourCell(kv.Key.Region, kv.Key.Hour, kv.Value.Rows, kv.Value.Predicted / kv.Value.Rows, kv.Value.Live / kv.Value.Rows))
                .ToArray(),
        };
    }

    /// <summary>Plain-text tables for the terminal.</summary>
    public string ToText()
    {
        var s = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        s.AppendLine(ic, $"rows {Rows}  live {LiveAnswers} ({ObservedRate:P2})  mean predicted {MeanPredicted:P2}");
        s.Append(ic, $"auc {Fmt(Auc)}  log_loss {LogLoss:F4}  brier {Brier:F4}  ece {Ece:F4}");
        s.AppendLine(BayesAuc is null ? "" : $"  bayes_auc {Fmt(BayesAuc)}");
        s.AppendLine();
        s.AppendLine("reliability      rows   predicted  observed");
        foreach (var r in Reliability)
        {
            s.AppendLine(ic, $"{r.Lower,4:F2}-{r.Upper,4:F2} {r.Rows,10} {r.MeanPredicted,10:F4} {r.ObservedRate,9:F4}");
        }
        s.AppendLine();
        s.AppendLine(ic, $"{"region",-16} {"rows",8} {"auc",7} {"log_loss",8} {"brier",7} {"ece",7} {"predicted",9} {"observed",9}");
        foreach (var r in Regions)
        {
            s.AppendLine(ic, $"{r.Region,-16} {r.Rows,8} {Fmt(r.Auc),7} {r.LogLoss,8:F4} {r.Brier,7:F4} {r.Ece,7:F4} {r.MeanPredicted,9:F4} {r.ObservedRate,9:F4}");
        }
        s.AppendLine();
        s.AppendLine(ic, $"{"region",-16} {"hour",4} {"rows",8} {"predicted",9} {"observed",9}");
        foreach (var c in RegionHours)
        {
            s.AppendLine(ic, $"{c.Region,-16} {c.Hour,4} {c.Rows,8} {c.MeanPredicted,9:F4} {c.ObservedRate,9:F4}");
        }
        return s.ToString();
    }

    private static string Fmt(double? value) => value is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "-";
}
