using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Tests;

/// <summary>Live answers likelier in one local hour of the lead's day than in any other (best-time tests of both hoppers).</summary>
internal sealed class PeakHour(int localHour) : IAnswerPredictor
{
    public float PredictLive(Lead lead, DateTime utcNow) =>
        TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone).Hour == localHour ? 0.6f : 0.2f;

    public void Observe(Lead lead, DateTime placedUtc, bool live) { }
}
