using System.Globalization;
using Dialer.Core.Domain;
using Dialer.Core.Pacing;
using Dialer.Sim.Config;

namespace Dialer.Sim;

/// <summary>A team of identical agents: skills, shift, wrap-up and pause habits.</summary>
public sealed record AgentGroup(string Name, int Count, SkillSet Skills, TimeOnly ShiftStart, TimeOnly ShiftEnd,
    Distribution WrapSeconds, double PauseEveryMinutes, Distribution PauseMinutes);

/// <summary>Where callees live: their zone, number prefix, share of leads, and live-answer rate by local hour.</summary>
public sealed record Region(string Name, TimeZoneInfo Zone, string Prefix, double Weight, double LiveAnswer, double[] HourFactor);

/// <summary>How callees behave once called.</summary>
public sealed record Callees(
    double MachineShare, double BusyShare, double BadNumberShare,
    Distribution RingSeconds, Distribution PatienceSeconds, Distribution TalkSeconds, double AmdSeconds, double SafeHarborMessageSeconds,
    IReadOnlyDictionary<string, double> TagLogOdds, double AttemptLogOdds, double ExpirySoonLogOdds)
{
    /// <summary>Of the calls an agent talks on, the share whose callee refuses further calls (the agent records a refusal disposition).</summary>
    public double RefuseShare { get; init; }
}

/// <summary>
/// How simulated callees answer an agentless script, per asking of a question: hang up, stay silent, press the opt-out
/// key, else a key drawn from the question's distribution (keys the script does not allow test its bad-input path),
/// <see cref="ThinkSeconds"/> after the prompt ends.
/// </summary>
public sealed record SurveyCallees(IReadOnlyDictionary<string, IReadOnlyList<KeyValuePair<char, double>>> Answers,
    double HangUp, double NoInput, double OptOut, Distribution ThinkSeconds);

/// <summary>How simulated agents decide on a preview offer, after <see cref="DecideSeconds"/>; the rest of the shares let it time out.</summary>
public sealed record PreviewAgents(double Accept, double Skip, double Callback, Distribution DecideSeconds, double CallbackAfterSeconds);

/// <summary>The campaign's lead list, generated: <see cref="Count"/> numbers, each a lead.</summary>
public sealed record LeadList(int Count, IReadOnlyDictionary<string, double> TagShares, int ExpiryDaysMin, int ExpiryDaysMax)
{
    /// <summary>
    /// Shares of customers with two and with three numbers (a mobile and a home number: one policy, one person, a lead per
    /// number). Both 0 (the default): the leads name no customer, as before customers were simulated.
    /// </summary>
    public double TwoNumbers { get; init; }
    public double ThreeNumbers { get; init; }
    public bool HasCustomers => TwoNumbers + ThreeNumbers > 0;
}

/// <summary>Everything a simulation run needs, read from a scenario file and validated.</summary>
public sealed class Scenario
{
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    public required DateOnly StartDate { get; init; }
    public required int Days { get; init; }
    public required CampaignConfig Campaign { get; init; }
    /// <summary>The <c>campaign:</c> section as read (the one campaign schema): what `dialer demo` stores, so the store's "why" answer judges by the scenario's profile and caps.</summary>
    public CampaignSettings Settings { get; init; } = new();
    public required VicidialOptions Vicidial { get; init; }
    public required PredictiveOptions Predictive { get; init; }
    public required IReadOnlyList<TrunkConfig> Trunks { get; init; }
    /// <summary>Per trunk: the share of calls the carrier fails with congestion.</summary>
    public required IReadOnlyList<double> TrunkCongestion { get; init; }
    public required SkillCatalog Skills { get; init; }
    public required IReadOnlyList<AgentGroup> Agents { get; init; }
    public required IReadOnlyList<Region> Regions { get; init; }
    public required Callees Callees { get; init; }
    public required LeadList Leads { get; init; }
    public SurveyCallees? Survey { get; init; }
    public PreviewAgents? Preview { get; init; }

    public int AgentCount => Agents.Sum(g => g.Count);

    /// <summary>The oracle bound: E[talk] / (E[talk] + E[wrap]) — each agent talks, wraps up and at once gets the next live callee.</summary>
    public double OracleOccupancy
    {
        get
        {
            var talk = Callees.TalkSeconds.Mean;
            var wrap = Agents.Sum(g => g.Count * g.WrapSeconds.Mean) / AgentCount;
            return talk / (talk + wrap);
        }
    }

    public Scenario WithDays(int days) => new()
    {
        Name = Name, Description = Description, StartDate = StartDate, Days = days, Campaign = Campaign, Settings = Settings, Vicidial = Vicidial,
        Predictive = Predictive, Trunks = Trunks, TrunkCongestion = TrunkCongestion, Skills = Skills, Agents = Agents,
        Regions = Regions, Callees = Callees, Survey = Survey, Preview = Preview, Leads = Leads with { Count = Math.Max(Leads.Count, Leads.Count * days / Days) },
    };

    public static Scenario Load(string file)
    {
        var root = YamlSection.Load(file);
        var name = root.OptStr("name") ?? Path.GetFileNameWithoutExtension(file);
        var zone = root.Zone("timezone");
        var startText = root.Str("start_date");
        if (!DateOnly.TryParseExact(startText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var start))
            throw root.Error("start_date", null, $"expected a date like 2026-11-23, got \"{startText}\"");
        var settings = ConfigSections.Campaign(root, zone);
        var campaign = settings.ToConfig(name);

        var congestion = new List<double>();
        var trunks = ConfigSections.Trunks(root, (t, _) => congestion.Add(t.OptNum("congestion", 0, 0, 1)));

        var skills = new SkillCatalog();
        var groups = root.List("agents").Select((g, i) =>
        {
            var shift = g.Map("shift");
            var group = new AgentGroup(
                g.OptStr("name") ?? $"team{i + 1}",
                g.Int("count", 0, 1, 100_000),
                SkillSet.From(skills, g.NumberMap("skills", 1, 255).Select(kv => new KeyValuePair<string, int>(kv.Key, (int)kv.Value))),
                shift.Time("start", default), shift.Time("end", default),
                ConfigSections.Distribution(g, "wrap_seconds"),
                g.OptMap("pauses")?.OptNum("every_minutes", 0, 0) ?? 0,
                g.OptMap("pauses") is { } p ? ConfigSections.Distribution(p, "minutes", new Distribution.Fixed(0)) : new Distribution.Fixed(0));
            if (!shift.Has("start") || !shift.Has("end")) throw g.Error("shift", null, "needs start and end, e.g. {start: \"09:00\", end: \"17:00\"}");
            if (group.ShiftEnd <= group.ShiftStart) throw g.Error("shift", null, "end must be after start (shifts within one day)");
            shift.Done();
            g.OptMap("pauses")?.Done();
            g.Done();
            return group;
        }).ToList();
        if (groups.Count == 0) throw root.Error("agents", null, "is required: at least one team");

        var regions = root.List("regions").Select(r =>
        {
            var factors = new double[24];
            Array.Fill(factors, 1.0);
            foreach (var (hour, f) in r.NumberMap("hourly", 0, 20))
            {
                if (!int.TryParse(hour, NumberStyles.None, CultureInfo.InvariantCulture, out var h) || h > 23)
                    throw r.Error("hourly", null, $"\"{hour}\" is not an hour 0..23");
                factors[h] = f;
            }
            var region = new Region(r.Str("name"), r.Zone("timezone"), r.Str("prefix"), r.OptNum("weight", 1, 0),
                r.Num("live_answer", 0.001, 0.99), factors);
            if (!region.Prefix.StartsWith('+') || region.Prefix.Length < 2 || region.Prefix[1..].Any(c => c is < '0' or > '9'))
                throw r.Error("prefix", null, $"expected '+' and digits, e.g. \"+8610\", got \"{region.Prefix}\"");
            r.Done();
            return region;
        }).ToList();
        if (regions.Count == 0) throw root.Error("regions", null, "is required: at least one region");

        var c = root.Map("callees");
        var effects = c.OptMap("effects");
        var survey = c.OptMap("survey") is { } sv ? ReadSurvey(sv) : null;
        var callees = new Callees(
            c.OptNum("machine", 0.15, 0, 1), c.OptNum("busy", 0.08, 0, 1), c.OptNum("bad_number", 0.03, 0, 1),
            ConfigSections.Distribution(c, "ring_seconds"),
            ConfigSections.Distribution(c, "patience_seconds", new Distribution.Exponential(8)),
            ConfigSections.Distribution(c, "talk_seconds"),
            c.OptNum("amd_seconds", 2.5, 0, 10),
            c.OptNum("safe_harbor_message_seconds", 6, 0, 60),
            effects?.NumberMap("tags", -5, 5).ToDictionary(kv => kv.Key, kv => kv.Value) ?? [],
            effects?.OptNum("attempt", 0, -5, 5) ?? 0,
            effects?.OptNum("expiry_within_7_days", 0, -5, 5) ?? 0) { RefuseShare = c.OptNum("refuse", 0, 0, 1) };
        if (callees.MachineShare + callees.BusyShare > 1) throw c.Error("busy", null, "machine + busy shares exceed 1");
        effects?.Done();
        c.Done();

        var l = root.Map("leads");
        var leads = new LeadList(l.Int("count", 0, 1, 10_000_000),
            l.NumberMap("tags", 0, 1).ToDictionary(kv => kv.Key, kv => kv.Value),
            l.Int("expiry_days_min", 1, 0, 3650), l.Int("expiry_days_max", 30, 0, 3650));
        if (leads.ExpiryDaysMax < leads.ExpiryDaysMin) throw l.Error("expiry_days_max", null, "must be ≥ expiry_days_min");
        if (l.OptMap("customers") is { } cu)
        {
            leads = leads with { TwoNumbers = cu.OptNum("two_numbers", 0, 0, 1), ThreeNumbers = cu.OptNum("three_numbers", 0, 0, 1) };
            if (leads.TwoNumbers + leads.ThreeNumbers > 1) throw cu.Error("three_numbers", null, "two_numbers + three_numbers exceed 1");
            cu.Done();
        }
        l.Done();

        var preview = root.OptMap("preview") is { } pv ? ReadPreview(pv) : null;
        if (campaign.Agentless && survey is null) throw c.Error("survey", null, "an agentless campaign's callees need survey: (how they answer the script)");
        if ((campaign.Mode == Core.Modes.DialingMode.Preview || campaign.PreviewTag is not null) && preview is null)
            throw root.Error("preview", null, "a campaign with preview needs preview: (how agents decide on an offer)");
        var scenario = new Scenario
        {
            Name = name,
            Description = root.OptStr("description") ?? "",
            StartDate = start,
            Days = root.Int("days", 1, 1, 365),
            Campaign = campaign,
            Settings = settings,
            Vicidial = settings.Pacing.Vicidial,
            Predictive = settings.Pacing.Predictive,
            Trunks = trunks,
            TrunkCongestion = congestion,
            Skills = skills,
            Agents = groups,
            Regions = regions,
            Callees = callees,
            Leads = leads,
            Survey = survey,
            Preview = preview,
        };
        root.Done();
        return scenario;
    }

    private static SurveyCallees ReadSurvey(YamlSection s)
    {
        var answers = new Dictionary<string, IReadOnlyList<KeyValuePair<char, double>>>(StringComparer.Ordinal);
        if (s.OptMap("answers") is { } a)
        {
            foreach (var question in a.Keys())
            {
                var shares = a.Map(question).AsNumberMap(0, 1).Select(kv => kv.Key.Length == 1 && Core.Modes.CallScript.IsKey(kv.Key[0])
                    ? new KeyValuePair<char, double>(kv.Key[0], kv.Value)
                    : throw a.Error(question, null, $"\"{kv.Key}\" is not a phone key (0-9, *, #)")).ToList();
                if (shares.Sum(kv => kv.Value) <= 0) throw a.Error(question, null, "the key shares must not all be 0");
                answers[question] = shares;
            }
        }
        var result = new SurveyCallees(answers, s.OptNum("hang_up", 0.02, 0, 1), s.OptNum("no_input", 0.05, 0, 1), s.OptNum("opt_out", 0.01, 0, 1),
            ConfigSections.Distribution(s, "think_seconds", new Distribution.LogNormal(2, 1)));
        if (result.HangUp + result.NoInput + result.OptOut > 1) throw s.Error("opt_out", null, "hang_up + no_input + opt_out exceed 1");
        s.Done();
        return result;
    }

    private static PreviewAgents ReadPreview(YamlSection p)
    {
        var result = new PreviewAgents(p.OptNum("accept", 0.85, 0, 1), p.OptNum("skip", 0.08, 0, 1), p.OptNum("callback", 0.05, 0, 1),
            ConfigSections.Distribution(p, "decide_seconds", new Distribution.LogNormal(12, 6)), p.OptNum("callback_after_seconds", 7200, 0));
        if (result.Accept + result.Skip + result.Callback > 1) throw p.Error("callback", null, "accept + skip + callback exceed 1 (the rest time out)");
        p.Done();
        return result;
    }
}
