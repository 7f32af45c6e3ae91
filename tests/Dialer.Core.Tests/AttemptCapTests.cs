using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Tests;

/// <summary>The profile's attempt caps per number and per customer, counted across campaigns, and the whole-customer refusal block.</summary>
public class AttemptCapTests
{
    private static ComplianceProfile Profile(AttemptCapsRule caps, bool wholeCustomer = false) => new()
    {
        Id = "cn-test", Version = 3, Country = "CN",
        CallingHours = new() { Start = "09:00", End = "21:00" },
        AttemptCaps = caps,
        RefusalBlock = new() { Days = 365, WholeCustomer = wholeCustomer },
    };

    private static CampaignConfig Campaign(ComplianceProfile p) => new() { WindowStart = new(8, 0), WindowEnd = new(22, 0), MaxAttemptsPerDay = 9, Profile = p };

    // 2026-11-23 12:30 UTC = 20:30 in Shanghai.
    private static readonly DateTime Evening = new(2026, 11, 23, 12, 30, 0, DateTimeKind.Utc);

    private static Lead Lead(long id = 1, string phone = "+8613800000000", string? customer = "C1") =>
        new() { Id = id, Phone = phone, Region = "CN-GD", TimeZone = Make.Shanghai, CustomerId = customer };

    private static Lead WithHistory(params (int DaysAgo, CallOutcome Outcome)[] number)
    {
        var lead = Lead();
        lead.Contacts = new(new ContactHistory(), new ContactHistory());
        foreach (var (ago, outcome) in number.OrderByDescending(n => n.DaysAgo))
            lead.Contacts.Number.Attempts.Add(new(7, Evening.AddDays(-ago).AddHours(-2), outcome));
        return lead;
    }

    [Fact]
    public void A_daily_number_cap_counts_only_the_outcomes_it_lists_and_lets_go_at_the_next_lead_local_day()
    {
        var c = Campaign(Profile(new() { PerNumber = [new() { Days = 1, Max = 3, Outcomes = ["no_answer", "busy"] }] }));
        // Two unanswered and one answered today: under the cap of unanswered ones.
        Assert.True(ComplianceGate.Check(c, WithHistory((0, CallOutcome.NoAnswer), (0, CallOutcome.Human), (0, CallOutcome.Busy)), Evening).Allowed);
        // A third unanswered one (in any campaign: the history is the number's) fills it; so does one still ringing.
        foreach (var third in new[] { CallOutcome.NoAnswer, CallOutcome.None })
        {
            var v = ComplianceGate.Check(c, WithHistory((0, CallOutcome.NoAnswer), (0, CallOutcome.Busy), (0, third)), Evening);
            Assert.Equal("cn-test/v3/attempt_caps:number:1d", v.Rule);
            Assert.Equal(new DateTime(2026, 11, 24, 1, 0, 0, DateTimeKind.Utc), v.Until); // 09:00 Shanghai tomorrow
            Assert.Contains("every campaign", v.Reason);
        }
        // Yesterday's do not count today.
        Assert.True(ComplianceGate.Check(c, WithHistory((1, CallOutcome.NoAnswer), (1, CallOutcome.NoAnswer), (1, CallOutcome.NoAnswer)), Evening).Allowed);
    }

    [Fact]
    public void A_seven_day_cap_holds_until_its_oldest_counted_attempt_falls_out_of_the_span()
    {
        var c = Campaign(Profile(new() { PerNumber = [new() { Days = 7, Max = 3 }] }));
        var v = ComplianceGate.Check(c, WithHistory((5, CallOutcome.Human), (3, CallOutcome.NoAnswer), (1, CallOutcome.Machine)), Evening);
        Assert.Equal("cn-test/v3/attempt_caps:number:7d", v.Rule);
        // The third newest was 5 days ago (11-18): the span of 7 days ending 11-25 no longer holds it.
        Assert.Equal(new DateTime(2026, 11, 25, 1, 0, 0, DateTimeKind.Utc), v.Until);
        Assert.True(ComplianceGate.Check(c, WithHistory((7, CallOutcome.Human), (3, CallOutcome.NoAnswer), (1, CallOutcome.Machine)), Evening).Allowed);
    }

    [Fact]
    public void A_customer_cap_counts_every_campaign_sharing_one_ledger_and_an_attempt_given_back_is_taken_off()
    {
        var c = Campaign(Profile(new() { PerCustomer = [new() { Days = 1, Max = 1 }] }));
        var ledger = new ContactLedger();
        // One customer, two numbers, one lead in each of two campaigns.
        var (one, two) = (Lead(1, "+8613800000001"), Lead(2, "+8613800000002"));
        var a = new MemoryHopper(c, [one], Evening, contacts: ledger);
        var b = new MemoryHopper(c, [two], Evening, contacts: ledger);
        var first = a.Next(Evening)!;
        // The customer's one call today is ringing in campaign a.
        Assert.Equal("cn-test/v3/attempt_caps:customer:1d", ComplianceGate.Check(c, two, Evening).Rule);
        a.Release(first, Evening);
        Assert.True(ComplianceGate.Check(c, two, Evening).Allowed);
        var second = b.Next(Evening.AddSeconds(1));
        Assert.Equal(2, second!.Id);
        b.Finished(second, CallOutcome.NoAnswer, Evening.AddMinutes(1));
        Assert.Null(a.Next(Evening.AddMinutes(2)));
        var held = ComplianceGate.Check(c, first, Evening.AddMinutes(2));
        Assert.Equal("cn-test/v3/attempt_caps:customer:1d", held.Rule);
        // A lead of another customer is not held by it.
        var other = Lead(3, "+8613800000003", "C2");
        ledger.Attach(other);
        Assert.True(ComplianceGate.Check(c, other, Evening.AddMinutes(2)).Allowed);
    }

    [Fact]
    public void A_refusal_holds_the_whole_customer_only_when_the_profile_says_so()
    {
        var caps = new AttemptCapsRule { PerNumber = [new() { Days = 1, Max = 9 }] };
        var lead = WithHistory();
        lead.Contacts!.Customer!.RefusedUntil = Evening.AddDays(365);
        var v = ComplianceGate.Check(Campaign(Profile(caps, wholeCustomer: true)), lead, Evening);
        Assert.Equal(("cn-test/v3/refusal_block:customer", Evening.AddDays(365)), (v.Rule, v.Until));
        lead.Contacts.Customer.RefusedUntil = DateTime.MaxValue;
        Assert.True(ComplianceGate.Check(Campaign(Profile(caps, wholeCustomer: true)), lead, Evening).Never);
        Assert.True(ComplianceGate.Check(Campaign(Profile(caps, wholeCustomer: false)), lead, Evening).Allowed);
    }

    /// <summary>
    /// A customer with a mobile and a home number, a lead for each in one in-memory hopper: while one rings the other waits
    /// (customer_in_call, looked at again in 30 s), as the store's claim holds a customer another lead of theirs is dialing;
    /// with a profile or without (it is not a profile's rule).
    /// </summary>
    [Fact]
    public void The_in_memory_hopper_never_calls_one_customer_on_two_numbers_at_once()
    {
        var c = Campaign(Profile(new() { PerNumber = [new() { Days = 1, Max = 9 }] }));
        var (mobile, home) = (Lead(1, "+8613800000001"), Lead(2, "+861000000002"));
        var hopper = new MemoryHopper(c, [mobile, home, Lead(3, "+8613800000003", "C2")], Evening);
        var first = hopper.Next(Evening)!;
        Assert.Equal(1, first.Id);
        // The other customer's lead goes out; the first customer's other number waits while the mobile rings.
        Assert.Equal(3, hopper.Next(Evening)?.Id);
        Assert.Equal(("customer_in_call", Evening.AddSeconds(30)), (ComplianceGate.Check(c, home, Evening).Rule, ComplianceGate.Check(c, home, Evening).Until));
        Assert.Null(hopper.Next(Evening.AddSeconds(31)));
        hopper.Finished(first, CallOutcome.NoAnswer, Evening.AddMinutes(1));
        Assert.Equal(2, hopper.Next(Evening.AddMinutes(2))?.Id);

        var plain = new CampaignConfig { WindowStart = new(8, 0), WindowEnd = new(22, 0) };
        var unprofiled = new MemoryHopper(plain, [Lead(1, "+8613800000001"), Lead(2, "+861000000002")], Evening);
        var ringing = unprofiled.Next(Evening)!;
        Assert.Null(unprofiled.Next(Evening));
        unprofiled.Finished(ringing, CallOutcome.Busy, Evening.AddSeconds(10));
        Assert.Equal(2, unprofiled.Next(Evening.AddSeconds(40))?.Id);
    }

    /// <summary>
    /// A refusal recorded on the mobile (the agent's disposition): the number is on the in-memory refusal list for every
    /// campaign sharing the ledger, and under whole_customer the customer's home number is held too, until the block ends.
    /// </summary>
    [Theory, InlineData(true), InlineData(false)]
    public void A_refusal_on_one_number_blocks_that_number_everywhere_and_with_whole_customer_the_customers_other_numbers(bool wholeCustomer)
    {
        var c = Campaign(Profile(new() { PerNumber = [new() { Days = 1, Max = 9 }] }, wholeCustomer));
        var ledger = new ContactLedger();
        var (mobile, home, sameNumberElsewhere) = (Lead(1, "+8613800000001"), Lead(2, "+861000000002"), Lead(5, "+8613800000001", customer: null));
        var a = new MemoryHopper(c, [mobile], Evening, contacts: ledger);
        var b = new MemoryHopper(c, [home, sameNumberElsewhere], Evening, contacts: ledger);
        var called = a.Next(Evening)!;
        a.Finished(called, CallOutcome.Human, Evening.AddMinutes(3));
        a.Refused(called, Evening.AddDays(365));
        var at = Evening.AddMinutes(10);
        Assert.Equal(("do_not_call", Evening.AddDays(365)), (ComplianceGate.Check(c, sameNumberElsewhere, at).Rule, ComplianceGate.Check(c, sameNumberElsewhere, at).Until));
        var homeVerdict = ComplianceGate.Check(c, home, at);
        if (wholeCustomer)
        {
            Assert.Equal(("cn-test/v3/refusal_block:customer", Evening.AddDays(365)), (homeVerdict.Rule, homeVerdict.Until));
            Assert.Null(b.Next(at));
        }
        else
        {
            Assert.True(homeVerdict.Allowed, homeVerdict.Reason);
            Assert.Equal(2, b.Next(at)?.Id);
            Assert.Null(b.Next(at));
        }
    }

    [Fact]
    public void The_shipped_profile_caps_numbers_and_customers_and_a_bad_cap_names_its_field()
    {
        var p = ComplianceProfiles.Get("cn-auto-renewal")!;
        Assert.Equal((4, true), (p.Version, p.RefusalBlock!.WholeCustomer));
        Assert.Equal([1, 7], p.AttemptCaps!.PerNumber.Select(s => s.Days));
        Assert.Equal(30, p.AttemptCaps.LongestDays());
        var errors = new Dictionary<string, string>();
        (p with { AttemptCaps = new() { PerCustomer = [new() { Days = 0, Max = 0, Outcomes = ["hung_up"] }] } }).Validate("custom_profile", errors);
        Assert.Equal(["custom_profile.attempt_caps.per_customer[0].days", "custom_profile.attempt_caps.per_customer[0].max", "custom_profile.attempt_caps.per_customer[0].outcomes[0]"],
            errors.Keys.Order());
        Assert.DoesNotContain("hung_up", string.Join(" ", errors.Values)); // the field is named, the value not echoed
    }
}
