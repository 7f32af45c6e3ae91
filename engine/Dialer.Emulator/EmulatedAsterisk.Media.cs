using System.Globalization;
using System.Text.Json;

namespace Dialer.Emulator;

/// <summary>Channel variables and the RTCP figures a call reports (polled, or RTPAUDIOQOS as it ends).</summary>
internal sealed partial class EmulatedAsterisk
{
    public Reply GetVariable(string id, Args q)
    {
        var name = q["variable"];
        if (name is null) return Reply.Message(400, "Variable name is required");
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Provided channel was not found");
            // Outbound PJSIP channels cannot read their SIP addresses (fixture f: 500).
            if (name is "CHANNEL(pjsip,remote_addr)" or "CHANNEL(pjsip,local_addr)") return Reply.Message(500, "Unable to read provided function");
            var value = name switch
            {
                "CHANNEL(state)" => ch.State,
                "CHANNEL(endpoint)" => ch.Resource,
                "CHANNEL(rtcp,all)" => RtcpAll(ch),
                "CHANNEL(rtcp,all_rtt)" => RttString(ch),
                "CHANNEL(rtcp,rtt)" => (Rtt(ch) / 1000).ToString("0.000000", CultureInfo.InvariantCulture),
                "CHANNEL(rtcp,all_jitter)" => RtcpJitter,
                "CHANNEL(rtcp,all_loss)" => RtcpLoss,
                "CHANNEL(rtcp,all_mes)" => RtcpMes,
                "CHANNEL(rtcp,rxjitter)" => "0.000000",
                "CHANNEL(rtcp,rxcount)" => (RtcpCounts(ch).Packets - RtcpCounts(ch).Lost).ToString(CultureInfo.InvariantCulture),
                "CHANNEL(rtcp,txcount)" => RtcpCounts(ch).Packets.ToString(CultureInfo.InvariantCulture),
                "CHANNEL(rtp,src)" => "127.0.0.1:24774",
                "CHANNEL(rtp,dest)" => "127.0.0.1:16000",
                "CHANNEL(pjsip,call-id)" => ch.ProtocolId,
                // The CDR's answer time, raw (u): epoch seconds and microseconds, zero while unanswered (func_cdr, cdr_get_tv).
                "CDR(answer,u)" => ch.UpSince is { } answered ? EpochMicros(answered) : "0.000000",
                _ => ch.Vars.GetValueOrDefault(name),
            };
            return value is null ? Reply.Message(404, "Provided variable was not found") : Reply.Json(200, w => { w.WriteStartObject(); w.WriteString("value", value); w.WriteEndObject(); });
        }
    }

    private static string EpochMicros(DateTimeOffset t)
    {
        var us = (t - DateTimeOffset.UnixEpoch).Ticks / 10;
        return string.Create(CultureInfo.InvariantCulture, $"{us / 1_000_000}.{us % 1_000_000:D6}");
    }

    public Reply SetVariable(string id, Args q)
    {
        if (q["variable"] is not { } name) return Reply.Message(400, "Variable name is required");
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            if (!ch.InStasis) return Reply.Message(409, "Channel not in Stasis application");
            SetVar(ch, name, q["value"] ?? "");
            return Reply.NoContent;
        }
    }


    /// <summary>
    /// A variable or function set on a channel. CONNECTEDLINE(num|name|all) sets the connected line, which is what PJSIP
    /// puts in From: (lab capture b); CALLERID(…) does not reach the carrier. Functions raise their own events, not ChannelVarset.
    /// </summary>
    private void SetVar(Chan ch, string name, string value)
    {
        switch (name)
        {
            case "CONNECTEDLINE(num)": ch.ConnectedNumber = value; Emit("ChannelConnectedLine", ch); return;
            case "CONNECTEDLINE(name)": ch.ConnectedName = value; Emit("ChannelConnectedLine", ch); return;
            case "CONNECTEDLINE(all)":
                var (n, num) = ParseCallerId(value);
                (ch.ConnectedName, ch.ConnectedNumber) = (n ?? "", num ?? "");
                Emit("ChannelConnectedLine", ch);
                return;
            case "CALLERID(num)": ch.CallerNumber = value; Emit("ChannelCallerId", ch); return;
            case "CALLERID(name)" or "CALLERID(all)": Emit("ChannelCallerId", ch); return;
        }
        ch.Vars[name] = value;
        Emit("ChannelVarset", ch, w => { w.WriteString("variable", name); w.WriteString("value", value); });
    }

    private double Rtt(Chan ch) => ch.FrozenAt is not null ? 0 : scenario.TrunkRttMs.GetValueOrDefault(ch.Resource, 20);

    /// <summary>CHANNEL(rtcp,all) as Asterisk 22 writes it (fixture f): packets from the time the call was up, loss from the scenario.</summary>
    private string RtcpAll(Chan ch)
    {
        var (packets, lost) = RtcpCounts(ch);
        var rtt = (Rtt(ch) / 1000).ToString("0.000000", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture,
            $"ssrc={ch.Ssrc};themssrc={ch.Ssrc};lp={lost};rxjitter=0.000000;rxcount={packets - lost};txjitter=0.000125;txcount={packets};rlp=0;rtt={rtt};rxmes=0.000000;txmes=88.087887");
    }

    /// <summary>
    /// RTP packets sent since the answer (50 a second of wall time, as the driver's clock sees them, whatever the time scale) and how many
    /// Asterisk counts lost: the scenario's share, or a 65,536-packet cycle per second on a trunk whose far end jumps its
    /// sequence numbers back (lab capture j).
    /// </summary>
    private (long Packets, long Lost) RtcpCounts(Chan ch)
    {
        // The far end of a dead trunk sends nothing more: the counts freeze where they were (lab capture d).
        var until = ch.FrozenAt ?? time.GetUtcNow();
        var seconds = ch.UpSince is { } up ? (until - up).TotalSeconds : 0;
        var packets = ch.UpSince is null ? 0 : Math.Max(50, (long)(seconds * 50)); // at least a second's worth: a share of few packets is too coarse to test
        if (scenario.TrunkSequenceJumps.Contains(ch.Resource)) return (packets + 65_536 * (1 + (long)seconds), 65_536 * (1 + (long)seconds));
        return (packets, (long)(packets * scenario.TrunkLoss.GetValueOrDefault(ch.Resource)));
    }

    private void EmitQos(Chan ch)
    {
        foreach (var (name, value) in new[]
                 {
                     ("RTPAUDIOQOS", RtcpAll(ch)), ("RTPAUDIOQOSJITTER", RtcpJitter), ("RTPAUDIOQOSLOSS", RtcpLoss),
                     ("RTPAUDIOQOSRTT", RttString(ch)), ("RTPAUDIOQOSMES", RtcpMes),
                 })
            Emit("ChannelVarset", ch, w => { w.WriteString("variable", name); w.WriteString("value", value); });
    }

    private const string RtcpJitter = "minrxjitter=000.000000;maxrxjitter=000.002250;avgrxjitter=000.000178;stdevrxjitter=000.000380;mintxjitter=000.000000;maxtxjitter=000.000000;avgtxjitter=000.000000;stdevtxjitter=000.000000;";
    private const string RtcpLoss = "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;";
    private const string RtcpMes = "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   avgtxmes=000.000000;   stdevtxmes=000.000000;";

    private string RttString(Chan ch)
    {
        var s = (Rtt(ch) / 1000).ToString("000.000000", CultureInfo.InvariantCulture);
        return $"     minrtt={s};     maxrtt={s};     avgrtt={s};     stdevrtt=000.000000;";
    }
}
