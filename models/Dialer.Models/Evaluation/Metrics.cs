namespace Dialer.Models.Evaluation;

/// <summary>Scores of predicted probabilities against 0/1 labels.</summary>
public static class Metrics
{
    // Clipping for log-loss, so a confident mistake costs a lot rather than infinity.
    private const double Epsilon = 1e-15;

    /// <summary>Area under the ROC curve (Mann-Whitney, ties counted half); null without both classes.</summary>
    public static double? Auc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        CheckLengths(scores, labels);
        var order = new int[scores.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var keys = scores.ToArray();
        Array.Sort(keys, order);
        double positives = 0, rankSum = 0;
        int start = 0;
        while (start < keys.Length)
        {
            int end = start;
            while (end + 1 < keys.Length && keys[end + 1] == keys[start]) end++;
            double averageRank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++)
            {
                if (labels[order[k]] > 0.5f)
                {
                    positives++;
                    rankSum += averageRank;
                }
            }
            start = end + 1;
        }
        double negatives = keys.Length - positives;
        if (positives == 0 || negatives == 0) return null;
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
    }

    public static double LogLoss(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> labels)
    {
        CheckLengths(probabilities, labels);
        double sum = 0;
        for (int i = 0; i < probabilities.Length; i++) sum += LogLoss(probabilities[i], labels[i]);
        return probabilities.Length == 0 ? 0 : sum / probabilities.Length;
    }

    /// <summary>The log-loss of one prediction.</summary>
    internal static double LogLoss(float probability, float label)
    {
        double p = Math.Clamp(probability, Epsilon, 1 - Epsilon);
        return label > 0.5f ? -Math.Log(p) : -Math.Log(1 - p);
    }

    public static double Brier(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> labels)
    {
        CheckLengths(probabilities, labels);
        double sum = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            double d = probabilities[i] - labels[i];
            sum += d * d;
        }
        return probabilities.Length == 0 ? 0 : sum / probabilities.Length;
    }

    /// <summary>
    /// Equal-width reliability table over [0, 1] and the expected calibration error: the
    /// row-weighted mean of |mean predicted − observed rate| over the bins.
    /// </summary>
    public static (double Ece, IReadOnlyList<ReliabilityBin> Bins) Calibration(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> labels, int bins)
    {
        CheckLengths(probabilities, labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var count = new int[bins];
        var predicted = new double[bins];
        var observed = new double[bins];
        for (int i = 0; i < probabilities.Length; i++)
        {
            int b = Math.Clamp((int)(probabilities[i] * bins), 0, bins - 1);
            count[b]++;
            predicted[b] += probabilities[i];
            observed[b] += labels[i];
        }
        double ece = 0;
        var table = new List<ReliabilityBin>(bins);
        for (int b = 0; b < bins; b++)
        {
            if (count[b] == 0) continue;
            double meanPredicted = predicted[b] / count[b], rate = observed[b] / count[b];
            ece += count[b] * Math.Abs(meanPredicted - rate);
            table.Add(new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, count[b], meanPredicted, rate));
        }
        return (probabilities.Length == 0 ? 0 : ece / probabilities.Length, table);
    }

    private static void CheckLengths(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> labels)
    {
        if (probabilities.Length != labels.Length) throw new ArgumentException($"{probabilities.Length} predictions for {labels.Length} labels");
    }
}

/// <summary>One row of a reliability table.</summary>
public sealed record ReliabilityBin(double Lower, double Upper, int Rows, double MeanPredicted, double ObservedRate);
