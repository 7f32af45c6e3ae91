using System.Globalization;
using Dialer.Core.Domain;

namespace Dialer.Core.Compliance;

/// <summary>
/// The rules of a market for a campaign, as data (<c>cn-auto-renewal</c>, <c>cn-life</c>, <c>us-tsr</c>, or a campaign's
/// own): when, how often and whom it may call. Every rule names its source, and the profile has a version, so a held
/// or refused lead is explained by rule id and version. A rule left out (null) is not checked.
/// </summary>
public sealed record ComplianceProfile
{
    public required string Id { get; init; }
    public int Version { get; init; } = 1;
    public string? Description { get; init; }
    /// <summary>The country the rules are for (ISO 3166-1, e.g. CN).</summary>
    public required string Country { get; init; }
    /// <summary>The country's calling hours, lead-local.</summary>
    public required HoursRule CallingHours { get; init; }
    /// <summary>Calling hours of a region (ISO 3166-2, or a city below it: CN-GD-SZ); the most specific one matching a lead's region wins over the country's.</summary>
    public List<RegionHoursRule> Regions { get; init; } = [];
    /// <summary>Public holidays (lead-local dates) with no calls at all.</summary>
    public HolidayRule? Holidays { get; init; }
    /// <summary>A renewal is called no earlier than this many days before its policy expires.</summary>
    public DaysRule? EarliestBeforeExpiry { get; init; }
    /// <summary>After this many attempts in a lead-local day, no more calls that day.</summary>
    public CountRule? DailyCap { get; init; }
    /// <summary>A refusal puts the number on the do-not-call list for this many days (and, with <see cref="RefusalBlockRule.WholeCustomer"/>, holds every lead of the customer).</summary>
    public RefusalBlockRule? RefusalBlock { get; init; }
    /// <summary>Caps on the attempts one number and one customer get over 1 / 7 / 30 lead-local days, counted across every campaign.</summary>
    public AttemptCapsRule? AttemptCaps { get; init; }
    /// <summary>Only leads with a recorded consent (source and date) are called.</summary>
    public FlagRule? Consent { get; init; }
    /// <summary>Only the campaign's registered calling number (or pool) may be shown.</summary>
    public FlagRule? RegisteredCallerId { get; init; }
    /// <summary>Local presence: the caller id shown to each lead must be one registered for the lead's region (the campaign's local_caller_ids).</summary>
    public FlagRule? LocalPresence { get; init; }
    /// <summary>Every call is recorded and the recording kept for <see cref="RecordingRule.Days"/> (years × 365), with its notice played at the connect.</summary>
    public RecordingRule? Recording { get; init; }

    /// <summary>The calling hours that apply in <paramref name="region"/>, and the rule id that sets them.</summary>
    public (TimeOnly Start, TimeOnly End, string Rule) HoursFor(string region)
    {
        RegionHoursRule? best = null;
        foreach (var r in Regions)
            if ((region == r.Region || region.StartsWith(r.Region + "-", StringComparison.Ordinal)) && (best is null || r.Region.Length > best.Region.Length))
                best = r;
        return best is null ? (CallingHours.Opens(), CallingHours.Closes(), Rules.CallingHours) : (best.Opens(), best.Closes(), $"{Rules.CallingHours}:{best.Region}");
    }

    /// <summary>Every invalid field under <paramref name="path"/>, by name.</summary>
    public void Validate(string path, Dictionary<string, string> errors)
    {
        if (string.IsNullOrWhiteSpace(Id) || Id.Length > 64) errors[path + ".id"] = "must be 1–64 characters";
        if (Version < 1) errors[path + ".version"] = "must be ≥ 1";
        if (string.IsNullOrWhiteSpace(Country) || Country.Length != 2) errors[path + ".country"] = "must be an ISO 3166-1 code such as CN";
        CallingHours.Validate(path + ".calling_hours", errors);
        for (var i = 0; i < Regions.Count; i++)
        {
            Regions[i].Validate($"{path}.regions[{i}]", errors);
            if (!Regions[i].Region.StartsWith(Country + "-", StringComparison.Ordinal)) errors[$"{path}.regions[{i}].region"] = $"must be a region of {Country} ({Country}-XX)";
        }
        if (Holidays is { Calendar: { } cal } && HolidayCalendars.Get(cal) is null)
            errors[path + ".holidays.calendar"] = $"unknown calendar (shipped: {string.Join(", ", HolidayCalendars.Names)})";
        if (Holidays is { } h)
            for (var i = 0; i < h.Dates.Count; i++)
                if (!DateOnly.TryParseExact(h.Dates[i], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)) errors[$"{path}.holidays.dates[{i}]"] = "must be yyyy-MM-dd";
        if (EarliestBeforeExpiry is { Days: < 0 or > 3660 }) errors[path + ".earliest_before_expiry.days"] = "must be within 0..3660";
        if (DailyCap is { Max: < 1 }) errors[path + ".daily_cap.max"] = "must be ≥ 1";
        if (RefusalBlock is { Days: < 1 }) errors[path + ".refusal_block.days"] = "must be ≥ 1";
        AttemptCaps?.Validate(path + ".attempt_caps", errors);
        if (Recording is { Days: < 0 }) errors[path + ".recording.days"] = "must be ≥ 0";
        if (Recording is { Notice: { } notice } && !IsMedia(notice)) errors[path + ".recording.notice"] = "must be an Asterisk media URI (sound:NAME, recording:NAME, tone:NAME)";
    }

    private static bool IsMedia(string uri) =>
        uri.Length <= 200 && (uri.StartsWith("sound:", StringComparison.Ordinal) || uri.StartsWith("recording:", StringComparison.Ordinal) || uri.StartsWith("tone:", StringComparison.Ordinal))
        && uri.IndexOf(':') < uri.Length - 1 && !uri.Any(char.IsWhiteSpace);

    /// <summary>Rule ids, as the audit trail and the "why" answer name them.</summary>
    public static class Rules
    {
        public const string CallingHours = "calling_hours", Holiday = "holiday", EarliestBeforeExpiry = "earliest_before_expiry",
            DailyCap = "daily_cap", Consent = "consent", DoNotCall = "do_not_call", MaxAttempts = "max_attempts",
            RegisteredCallerId = "registered_caller_id", LocalPresence = "local_presence", Recording = "recording",
            AttemptCaps = "attempt_caps", RefusalBlock = "refusal_block",
            // Not a profile's: two campaigns (or nodes) never call one customer at once.
            CustomerInCall = "customer_in_call";
    }
}

/// <summary>A rule's source: the notice, law or house policy it comes from (shown with the rule).</summary>
public abstract record SourcedRule
{
    public string? Source { get; init; }
}

public record HoursRule : SourcedRule
{
    /// <summary>HH:mm, lead-local; calls only in [start, end).</summary>
    public required string Start { get; init; }
    public required string End { get; init; }
    public TimeOnly Opens() => TimeOnly.ParseExact(Start, "HH:mm", CultureInfo.InvariantCulture);
    public TimeOnly Closes() => TimeOnly.ParseExact(End, "HH:mm", CultureInfo.InvariantCulture);

    public void Validate(string path, Dictionary<string, string> errors)
    {
        if (!TimeOnly.TryParseExact(Start, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var s)) errors[path + ".start"] = "must be HH:mm";
        else if (!TimeOnly.TryParseExact(End, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var e)) errors[path + ".end"] = "must be HH:mm";
        else if (s >= e) errors[path + ".end"] = "must be after start";
    }
}

public sealed record RegionHoursRule : HoursRule
{
    public required string Region { get; init; }
}

public sealed record HolidayRule : SourcedRule
{
    /// <summary>A shipped calendar of public holidays by year (<see cref="HolidayCalendars"/>: <c>cn</c>); null: only <see cref="Dates"/>.</summary>
    public string? Calendar { get; init; }
    /// <summary>yyyy-MM-dd: days of the campaign's own (or beside the calendar's).</summary>
    public List<string> Dates { get; init; } = [];

    public bool IsHoliday(DateOnly day) =>
        (Calendar is { } c && HolidayCalendars.Contains(c, day)) || (Dates.Count > 0 && Dates.Contains(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
}

public sealed record DaysRule : SourcedRule
{
    public required int Days { get; init; }
}

public sealed record RefusalBlockRule : SourcedRule
{
    public required int Days { get; init; }
    /// <summary>A refusal on any of a customer's numbers holds every lead of that customer, in every campaign, while the refusal is on the list.</summary>
    public bool WholeCustomer { get; init; }
}

/// <summary>
/// Caps on attempts per number (every lead with that number) and per customer (every lead of the customer), each over a
/// span of lead-local days ending today, counted across every campaign from the attempt history; an attempt still
/// ringing counts whatever its outcome will be.
/// </summary>
public sealed record AttemptCapsRule : SourcedRule
{
    public List<CapSpan> PerNumber { get; init; } = [];
    public List<CapSpan> PerCustomer { get; init; } = [];

    /// <summary>The longest span: how far back the hoppers read the history.</summary>
    public int LongestDays() => PerNumber.Concat(PerCustomer).Select(s => s.Days).DefaultIfEmpty(0).Max();

    public void Validate(string path, Dictionary<string, string> errors)
    {
        foreach (var (name, spans) in new[] { ("per_number", PerNumber), ("per_customer", PerCustomer) })
            for (var i = 0; i < spans.Count; i++)
            {
                var at = $"{path}.{name}[{i}]";
                if (spans[i].Days is < 1 or > 366) errors[at + ".days"] = "must be within 1..366";
                if (spans[i].Max < 1) errors[at + ".max"] = "must be ≥ 1";
                if (spans[i].Outcomes is { } outcomes)
                    for (var j = 0; j < outcomes.Count; j++)
                        if (outcomes[j] != CapSpan.Refused && !CallOutcomes.TryParse(outcomes[j], out _))
                            errors[$"{at}.outcomes[{j}]"] = $"must be a call outcome ({string.Join(", ", CallOutcomes.Names)}) or {CapSpan.Refused}";
            }
        if (PerNumber.Count + PerCustomer.Count == 0) errors[path] = "must give per_number or per_customer caps";
    }
}

/// <summary>
/// At most <see cref="Max"/> attempts over the last <see cref="Days"/> lead-local days (1: today), of the <see cref="Outcomes"/>
/// listed (all when left out): call outcomes, and <see cref="Refused"/> for a call the callee refused further calls on (its
/// outcome is <c>human</c>; the refusal comes with the agent's disposition or the survey's opt-out key).
/// </summary>
public sealed record CapSpan
{
    public const string Refused = "refused";
    public required int Days { get; init; }
    public required int Max { get; init; }
    public List<string>? Outcomes { get; init; }

    /// <summary>Whether <paramref name="attempt"/> counts (one whose outcome is <see cref="CallOutcome.None"/>, not ended yet, counts always).</summary>
    public bool Counts(Contact attempt)
    {
        if (Outcomes is null || attempt.Outcome == CallOutcome.None) return true;
        var name = attempt.Outcome.ToCsv();
        foreach (var o in Outcomes)
            if (string.Equals(o, name, StringComparison.OrdinalIgnoreCase) || (attempt.Refused && string.Equals(o, Refused, StringComparison.OrdinalIgnoreCase))) return true;
        return false;
    }
}

/// <summary>
/// Recordings kept <see cref="Days"/>, and the notice the callee hears that the call is recorded (<see cref="Notice"/>, an
/// Asterisk media URI such as <c>sound:dialer/recording-notice</c>; null plays none). The notice is played into the agent's
/// bridge the moment the callee joins it: the connect itself is not delayed (the 2 s rule counts to it), agent and callee
/// both hear the notice, so the agent talks after it, and the recording, started just before, holds it as proof.
/// </summary>
public sealed record RecordingRule : SourcedRule
{
    public required int Days { get; init; }
    public string? Notice { get; init; }
    /// <summary>Where the notice's text comes from (the rule it meets), beside the recording rule's own source.</summary>
    public string? NoticeSource { get; init; }
}

public sealed record CountRule : SourcedRule
{
    public required int Max { get; init; }
}

public sealed record FlagRule : SourcedRule
{
    public bool Required { get; init; } = true;
}

/// <summary>What the rules say about dialing a lead at an instant: allowed, held until a time, or never (with the rule and its profile version).</summary>
public readonly record struct Verdict(DateTime? Until, string? Rule, string Reason)
{
    public bool Allowed => Rule is null;
    /// <summary>Held for good (no consent, on DNC, attempts used up): no time will open it.</summary>
    public bool Never => Rule is not null && Until is null;
    public static Verdict Allow => new(null, null, "every rule allows the call");
}

/// <summary>
/// The one place a lead's dialing is judged against its campaign's rules: the campaign's own window and caps, and its
/// compliance profile when it names one. Pure: both hoppers call it (they run off the engine loop) and the "why"
/// answer calls it again with the store's view of the lead.
/// </summary>
public static class ComplianceGate
{
    /// <summary>
    /// The first rule, in a fixed order (never-rules first, then the one that holds the lead longest), that stops a
    /// call to <paramref name="lead"/> at <paramref name="utcNow"/>; <see cref="Verdict.Allow"/> if none does.
    /// Rolls the lead's daily count over when its own day has changed.
    /// </summary>
    public static Verdict Check(CampaignConfig c, Lead lead, DateTime utcNow)
    {
        var p = c.Profile;
        if (lead.Attempts >= c.MaxAttempts) return new(null, ComplianceProfile.Rules.MaxAttempts, $"all {c.MaxAttempts} attempts used");
        if (p?.Consent is { Required: true } && lead.ConsentAt is null)
            return new(null, Named(p, ComplianceProfile.Rules.Consent), "no consent on record (consent_source and consent_at)");
        if (p?.LocalPresence is { Required: true } && c.ShownCallerIds is { } shown && LocalPresence(c, shown, lead.Region) is { } notLocal)
            return new(null, Named(p, ComplianceProfile.Rules.LocalPresence), notLocal);
        if (lead.Contacts?.Number.RefusedUntil is { } numberRefused && numberRefused > utcNow)
            return new(numberRefused == DateTime.MaxValue ? null : numberRefused, ComplianceProfile.Rules.DoNotCall, "the number refused further calls: it is on the refusal list");
        if (p?.RefusalBlock is { WholeCustomer: true } && lead.Contacts?.Customer?.RefusedUntil is { } refused && refused > utcNow)
            return new(refused == DateTime.MaxValue ? null : refused, Named(p, ComplianceProfile.Rules.RefusalBlock + ":customer"),
                "the customer refused further calls (on one of their numbers, in some campaign): every lead of the customer is blocked");
        var local = TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone);
        var today = DateOnly.FromDateTime(local);
        if (lead.AttemptsDay != today)
        {
            lead.AttemptsDay = today;
            lead.AttemptsToday = 0;
        }
        // Each rule gives the earliest instant it allows; the lead waits for the latest of them, found by iterating
        // (a later day may itself be a holiday, or outside the window), a few rounds at most.
        var at = utcNow;
        string? rule = null, reason = null;
        for (var round = 0; round < 32; round++)
        {
            var (next, r, why) = Earliest(c, lead, at, today);
            if (next <= at) break;
            if (rule is null) (rule, reason) = (r, why);
            at = next;
        }
        if (rule is not null) return new(at, p is null ? rule : Named(p, rule), reason!);
        // Looked at only when every rule allows the call now: a lead held till later is looked at again then.
        return lead.Contacts?.Customer is { InCall: > 0 } ? CustomerInCall(utcNow) : Verdict.Allow;
    }

    /// <summary>How long a lead whose customer another lead of theirs is being called for waits before it is looked at again.</summary>
    public static readonly TimeSpan CustomerInCallRecheck = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Two calls never go to one customer at once (not a profile's rule: any campaign, any node): the lead waits
    /// <see cref="CustomerInCallRecheck"/>. The in-memory hopper knows it from its ledger, the store's claim from its leads table.
    /// </summary>
    public static Verdict CustomerInCall(DateTime utcNow) =>
        new(utcNow + CustomerInCallRecheck, ComplianceProfile.Rules.CustomerInCall, "another lead of the customer is being called or about to be (another campaign or node)");

    /// <summary>
    /// Before a campaign places its first call, what its telephony shows and keeps against the profile:
    /// <c>registered_caller_id</c> needs a number on every call (a default) and every number the driver may show (the
    /// default and each region's, for local presence) among the campaign's <c>registered_caller_ids</c>;
    /// <c>recording</c> needs every call recorded. The first rule broken, named with its profile version, or null.
    /// Numbers in the answer are masked to their last 4 digits.
    /// </summary>
    public static string? CheckTelephony(CampaignConfig c, string? defaultCallerId, IReadOnlyDictionary<string, string> callerIdByRegion, bool recordCalls)
    {
        if (c.Profile is not { } p) return null;
        if (p.RegisteredCallerId is { Required: true })
        {
            var rule = Named(p, ComplianceProfile.Rules.RegisteredCallerId);
            if (defaultCallerId is null) return $"{rule}: every call must show the campaign's registered number: set the caller id (ari.caller_id, and caller_ids per region for local presence)";
            if (c.RegisteredCallerIds.Count == 0) return $"{rule}: the campaign lists no registered numbers: give them in its settings (registered_caller_ids)";
            if (!IsRegistered(c, defaultCallerId)) return $"{rule}: the default caller id ({Text.Redact.Numbers(defaultCallerId)}) is not among the campaign's registered_caller_ids";
            foreach (var (region, number) in callerIdByRegion)
                if (!IsRegistered(c, number)) return $"{rule}: the caller id for region {region} ({Text.Redact.Numbers(number)}) is not among the campaign's registered_caller_ids";
        }
        if (p.Recording is { } r && !recordCalls)
            return $"{Named(p, ComplianceProfile.Rules.Recording)}: every call must be recorded and kept {r.Days} days: turn recording on (ari.record_calls: true)";
        return null;
    }

    /// <summary>
    /// Why the caller id the telephony would show a lead of <paramref name="region"/> is not one registered for it (the
    /// most specific region of <c>local_caller_ids</c> that holds the lead's: CN-GD-SZ before CN-GD), or null when it is.
    /// Allocates only on a refusal: the hopper asks it for every lead it claims.
    /// </summary>
    private static string? LocalPresence(CampaignConfig c, CallerIdPlan shown, string region)
    {
        if (shown.For(region) is not { } callerId) return $"no caller id is shown to region {region}";
        var number = Number(callerId);
        List<string>? registered = null;
        var bestLength = -1;
        foreach (var (r, numbers) in c.LocalCallerIds)
            if (r.Length > bestLength && (region == r || (region.Length > r.Length && region[r.Length] == '-' && region.StartsWith(r, StringComparison.Ordinal))))
                (registered, bestLength) = (numbers, r.Length);
        if (registered is null) return $"no number is registered for region {region} (local_caller_ids)";
        foreach (var n in registered)
            if (number.SequenceEqual(n)) return null;
        return $"the caller id shown to region {region} ({Text.Redact.Numbers(number.ToString())}) is not registered for it (local_caller_ids)";
    }

    /// <summary>The number of a caller id as Asterisk takes it (<c>+8610…</c> or <c>"Name" &lt;+8610…&gt;</c>).</summary>
    private static ReadOnlySpan<char> Number(string callerId)
    {
        var open = callerId.LastIndexOf('<');
        return (open >= 0 && callerId.EndsWith('>') ? callerId.AsSpan(open + 1, callerId.Length - open - 2) : callerId.AsSpan()).Trim();
    }

    /// <summary>A caller id as Asterisk takes it (<c>+8610…</c> or <c>"Name" &lt;+8610…&gt;</c>) is registered when its number is listed.</summary>
    private static bool IsRegistered(CampaignConfig c, string callerId)
    {
        var number = Number(callerId).ToString();
        return c.RegisteredCallerIds.Contains(number);
    }

    /// <summary>The rule's id with its profile's: <c>cn-auto-renewal/v4/holiday</c>.</summary>
    internal static string Named(ComplianceProfile p, string rule) => $"{p.Id}/v{p.Version}/{rule}";

    private static (DateTime Next, string Rule, string Reason) Earliest(CampaignConfig c, Lead lead, DateTime utcNow, DateOnly today)
    {
        var p = c.Profile;
        var tz = lead.TimeZone;
        var local = TimeZoneInfo.ConvertTimeFromUtc(utcNow, tz);
        var day = DateOnly.FromDateTime(local);
        var cap = Math.Min(c.MaxAttemptsPerDay, p?.DailyCap?.Max ?? int.MaxValue);
        if (day == today && lead.AttemptsToday >= cap)
            return (StartOf(day.AddDays(1), tz), p?.DailyCap is { Max: var m } && m <= c.MaxAttemptsPerDay ? ComplianceProfile.Rules.DailyCap : "max_attempts_per_day",
                $"{lead.AttemptsToday} attempts today, the cap is {cap}");
        if (p?.AttemptCaps is { } caps && lead.Contacts is { } contacts)
        {
            if (Capped(caps.PerNumber, contacts.Number, tz, day) is { } n)
                return (StartOf(n.Reopens, tz), $"{ComplianceProfile.Rules.AttemptCaps}:number:{n.Span.Days}d",
                    $"{n.Span.Max} attempts to this number in {Days(n.Span.Days)} (every campaign counted), the cap is {n.Span.Max}");
            if (contacts.Customer is { } customer && Capped(caps.PerCustomer, customer, tz, day) is { } cu)
                return (StartOf(cu.Reopens, tz), $"{ComplianceProfile.Rules.AttemptCaps}:customer:{cu.Span.Days}d",
                    $"{cu.Span.Max} attempts to this customer in {Days(cu.Span.Days)} (every number and campaign counted), the cap is {cu.Span.Max}");
        }
        if (p?.EarliestBeforeExpiry is { Days: var d } && lead.PolicyExpiry is { } expiry && expiry.AddDays(-d) > day)
            return (StartOf(expiry.AddDays(-d), tz), ComplianceProfile.Rules.EarliestBeforeExpiry,
                $"the policy expires in {expiry.DayNumber - day.DayNumber} days; renewal calls start {d} days before");
        if (p?.Holidays is { } h && h.IsHoliday(day))
            return (StartOf(day.AddDays(1), tz), ComplianceProfile.Rules.Holiday, $"{day:yyyy-MM-dd} is a public holiday");
        var (start, end, hoursRule) = p?.HoursFor(lead.Region) ?? (c.WindowStart, c.WindowEnd, ComplianceProfile.Rules.CallingHours);
        // The campaign's window narrows the profile's, never widens it.
        if (p is not null) (start, end) = (start > c.WindowStart ? start : c.WindowStart, end < c.WindowEnd ? end : c.WindowEnd);
        var time = TimeOnly.FromDateTime(local);
        if (time >= start && time < end) return (utcNow, "", "");
        var open = local.Date + start.ToTimeSpan();
        if (open <= local) open = open.AddDays(1);
        // A DST gap can swallow the opening minute; step forward until the local time exists.
        while (tz.IsInvalidTime(open)) open = open.AddMinutes(1);
        return (TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(open, DateTimeKind.Unspecified), tz), hoursRule,
            $"{time:HH:mm} lead-local is outside {start:HH:mm}–{end:HH:mm}");
    }

    private static string Days(int n) => n == 1 ? "the lead-local day" : $"the last {n} lead-local days";

    /// <summary>
    /// The first span of <paramref name="spans"/> that <paramref name="history"/> fills on <paramref name="day"/>, and the day
    /// it lets go: the span's Max-th newest counted attempt falls out of it <c>Days</c> days after its own day.
    /// The history is in placement order, so it is read newest first and only as far back as the span reaches.
    /// </summary>
    private static (CapSpan Span, DateOnly Reopens)? Capped(List<CapSpan> spans, ContactHistory history, TimeZoneInfo tz, DateOnly day)
    {
        var attempts = history.Attempts;
        foreach (var span in spans)
        {
            var first = day.AddDays(1 - span.Days);
            var count = 0;
            for (var i = attempts.Count - 1; i >= 0; i--)
            {
                var placed = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(attempts[i].PlacedUtc, tz));
                if (placed < first) break;
                if (placed > day || !span.Counts(attempts[i])) continue;
                if (++count == span.Max) return (span, placed.AddDays(span.Days));
            }
        }
        return null;
    }

    private static DateTime StartOf(DateOnly day, TimeZoneInfo tz)
    {
        var t = day.ToDateTime(TimeOnly.MinValue);
        while (tz.IsInvalidTime(t)) t = t.AddMinutes(1);
        return TimeZoneInfo.ConvertTimeToUtc(t, tz);
    }
}
