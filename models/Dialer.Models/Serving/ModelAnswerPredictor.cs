using Dialer.Core.Engine;
using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>
/// The engine's answer predictor backed by a model: each call to place gets its features from the same
/// <see cref="FeatureSchema.Extract"/> training used, from the lead's own state. A model is trained offline,
/// so <see cref="Observe"/> learns nothing. Not thread-safe (one row buffer), like the engine that calls it.
/// </summary>
public sealed class ModelAnswerPredictor(IAnswerRateModel model) : IAnswerPredictor
{
    private readonly float[] _row = new float[model.Schema.FeatureCount];

    public IAnswerRateModel Model => model;

    public float PredictLive(Lead lead, DateTime utcNow)
    {
        model.Schema.Extract(Context(lead, new DateTimeOffset(utcNow, TimeSpan.Zero)), _row);
        return model.Predict(_row);
    }

    public void Observe(Lead lead, DateTime placedUtc, bool live) { }

    /// <summary>The lead as of the attempt about to be made (history rows store dates without offset as UTC midnight).</summary>
    public static AttemptContext Context(Lead lead, DateTimeOffset at) => new(
        lead.Region,
        lead.TimeZone,
        at,
        lead.Attempts + 1,
        lead.LastAttemptAt is { } last ? new DateTimeOffset(last, TimeSpan.Zero) : null,
        lead.LastOutcome == CallOutcome.None ? null : lead.LastOutcome,
        lead.CreatedAt == default ? null : new DateTimeOffset(DateTime.SpecifyKind(lead.CreatedAt, DateTimeKind.Utc)),
        lead.PolicyExpiry is { } expiry ? new DateTimeOffset(expiry.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) : null,
        lead.Tags);
}
