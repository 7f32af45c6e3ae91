using System.Globalization;
using System.Text;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Sim;

/// <summary>
/// Writes the call history CSV of DESIGN.md, one row per finished attempt. The simulator adds
/// <c>p_live_true</c>, the callee model's true live-answer probability of the attempt (the Bayes limit a model is judged against).
/// </summary>
public sealed class HistoryWriter(TextWriter output, Func<Call, double>? pLiveTrue = null) : IAttemptLog
{
    public const string Header = "lead_id,phone,region,timezone,attempt,started_at,outcome,ring_seconds,talk_seconds,agent_id,trunk,created_at,policy_expiry,tags";
    private readonly StringBuilder _row = new();
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
        _row.Clear()
            .Append(inv, $"{l.Id},{l.Phone},{Csv(l.Region)},{l.TimeZone.Id},{call.Attempt},{local:yyyy-MM-dd'T'HH:mm:ss.fffzzz},{call.Outcome.ToCsv()},")
            .Append(inv, $"{call.RingSeconds:0.###},{call.TalkSeconds:0.###},{call.Agent?.Id},{TrunkName?.Invoke(call.Trunk) ?? call.Trunk.ToString(inv)},")
            .Append(inv, $"{l.CreatedAt:yyyy-MM-dd'T'HH:mm:ss'Z'},{l.PolicyExpiry:yyyy-MM-dd},{Csv(string.Join(';', l.Tags))}");
        if (pLiveTrue is not null) _row.Append(inv, $",{pLiveTrue(call):0.######}");
        output.WriteLine(_row);
    }

    private static string Csv(string s) => s.AsSpan().IndexOfAny(",\"\n") < 0 ? s : $"\"{s.Replace("\"", "\"\"")}\"";
}
