using Dialer.Core.Domain;

namespace Dialer.Core.Metrics;

/// <summary>The engine's running account of a campaign: what every report (simulate, demo, API) is computed from.</summary>
public sealed class CampaignStats(TimeZoneInfo campaignZone, int trunks, int agents)
{
    public long CallsPlaced { get; internal set; }
    public long LiveAnswers { get; internal set; }
    public long MachineAnswers { get; internal set; }
    public long Abandoned { get; internal set; }
    public long Connected { get; internal set; }
    /// <summary>Abandoned per live answer so far (0 before the first).</summary>
    public double AbandonRate => LiveAnswers == 0 ? 0 : (double)Abandoned / LiveAnswers;
    public long[] Outcomes { get; } = new long[Enum.GetValues<CallOutcome>().Length];
    /// <summary>Calls ended, by trunk index.</summary>
    public long[] TrunkCalls { get; } = new long[trunks];
    // Placed, live answers, machines and abandons by trunk: an answer rate per carrier (the /metrics series).
    public long[] TrunkPlaced { get; } = new long[trunks];
    public long[] TrunkLive { get; } = new long[trunks];
    public long[] TrunkMachine { get; } = new long[trunks];
    public long[] TrunkAbandoned { get; } = new long[trunks];
    public double[] TrunkCost { get; } = new double[trunks];
    /// <summary>Seconds agents spent in each <see cref="AgentState"/>, summed over agents.</summary>
    public double[] AgentSeconds { get; } = new double[Enum.GetValues<AgentState>().Length];
    public double[] AgentLoggedInSeconds { get; } = new double[agents];
    /// <summary>Live answer → agent connected, in whole milliseconds (last bin = 2 s or more).</summary>
    public long[] AnswerToAgentMs { get; } = new long[2001];
    public double AnswerToAgentMsSum { get; private set; }
    public SortedDictionary<DateOnly, (long Live, long Abandoned)> ByDay { get; } = [];
    public SortedDictionary<DateTime, (long Live, long Abandoned)> ByHour { get; } = [];

    internal void CountLive(DateTime utc)
    {
        LiveAnswers++;
        Bump(utc, live: 1, abandoned: 0);
    }

    internal void CountAbandoned(DateTime utc)
    {
        Abandoned++;
        Bump(utc, live: 0, abandoned: 1);
    }

    internal void CountConnect(double answerToAgentSeconds)
    {
        Connected++;
        var ms = answerToAgentSeconds * 1000;
        AnswerToAgentMsSum += ms;
        AnswerToAgentMs[Math.Clamp((int)Math.Round(ms), 0, AnswerToAgentMs.Length - 1)]++;
    }

    /// <summary>The smallest whole millisecond value at or below which <paramref name="q"/> of connects fell.</summary>
    public double AnswerToAgentPercentile(double q)
    {
        if (Connected == 0) return 0;
        var target = q * Connected;
        long seen = 0;
        for (var ms = 0; ms < AnswerToAgentMs.Length; ms++)
        {
            seen += AnswerToAgentMs[ms];
            if (seen >= target) return ms;
        }
        return AnswerToAgentMs.Length - 1;
    }

    private void Bump(DateTime utc, int live, int abandoned)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, campaignZone);
        var day = DateOnly.FromDateTime(local);
        var hour = new DateTime(local.Year, local.Month, local.Day, local.Hour, 0, 0);
        ByDay[day] = ByDay.TryGetValue(day, out var d) ? (d.Live + live, d.Abandoned + abandoned) : (live, abandoned);
        ByHour[hour] = ByHour.TryGetValue(hour, out var h) ? (h.Live + live, h.Abandoned + abandoned) : (live, abandoned);
    }
}
