using System.Globalization;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Text;

namespace Dialer.Sim;

/// <summary>
/// Writes the call history CSV of DESIGN.md, one row per finished attempt. The simulator adds
/// <c>p_live_true</c>, the callee model's true live-answer probability of the attempt (the Bayes limit a model is judged against).
/// </summary>
public sealed class HistoryWriter(TextWriter output, Func<Call, double>? pLiveTrue = null) : IAttemptLog
{
    public const string Header = "lead_id,phone,region,timezone,attempt,started_at,outcome,ring_seconds,talk_seconds,agent_id,trunk,created_at,policy_expiry,tags";
    private bool _headerWritten;

    public Func<int, string>? TrunkName { get; init; }

    public void Placed(Call call) { }

    public void Finished(Call call)
    {
        if (!_headerWritten)
        {
            output.WriteLine(pLiveTrue is null ? Header : Header + ",p_live_true");
            _headerWritten = true;
        }
        var l = call.Lead;
        var inv = CultureInfo.InvariantCulture;
        var local = new DateTimeOffset(call.PlacedAt, TimeSpan.Zero).ToOffset(l.TimeZone.GetUtcOffset(call.PlacedAt));
        CsvReader.WriteField(output, l.Id.ToString(inv), first: true);
        foreach (var field in (ReadOnlySpan<string>)[
            l.Phone, l.Region, l.TimeZone.Id, call.Attempt.ToString(inv), local.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", inv), call.Outcome.ToCsv(),
            call.RingSeconds.ToString("0.###", inv), call.TalkSeconds.ToString("0.###", inv), call.Agent?.Id ?? "",
            TrunkName?.Invoke(call.Trunk) ?? call.Trunk.ToString(inv), l.CreatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", inv),
            l.PolicyExpiry?.ToString("yyyy-MM-dd", inv) ?? "", string.Join(';', l.Tags)])
            CsvReader.WriteField(output, field, first: false);
        if (pLiveTrue is not null) CsvReader.WriteField(output, pLiveTrue(call).ToString("0.######", inv), first: false);
        output.WriteLine();
    }
}
