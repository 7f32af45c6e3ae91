using System.Globalization;
using System.Text;
using Dialer.Core.Domain;
using Dialer.Core.Routing;

namespace Dialer.Sim;

/// <summary>Generates a scenario's lead list from the seed: the same leads for every pacer.</summary>
public static class LeadFactory
{
    private const int RegionStream = 20, PhoneStream = 21, ExpiryStream = 22, CreatedStream = 23, CustomerStream = 24, TagStream = 30;

    /// <summary>
    /// The leads, one per number. With customers (<see cref="LeadList.HasCustomers"/>) each customer's first lead is drawn as
    /// any lead and its further numbers (a home number beside the mobile) follow it with the next ids: the same person,
    /// region, policy and tags, a number of their own.
    /// </summary>
    public static List<Lead> Create(Scenario s, ulong seed)
    {
        var leads = new List<Lead>(s.Leads.Count);
        var totalWeight = s.Regions.Sum(r => r.Weight);
        var tags = s.Leads.TagShares.ToArray();
        var start = s.StartDate;
        for (var id = 1; id <= s.Leads.Count; id++)
        {
            double U(int stream) => Crn.Uniform(seed, id, 0, stream);
            if (leads.Count > 0 && leads[^1] is { CustomerId: { } customer } last && FurtherNumber(s.Leads, seed, customer, id))
            {
                leads.Add(new Lead
                {
                    Id = id, Phone = Phone(s.Regions.First(r => r.Name == last.Region), U(PhoneStream)), Region = last.Region, TimeZone = last.TimeZone,
                    CustomerId = customer, Tags = last.Tags, Priority = last.Priority, PolicyExpiry = last.PolicyExpiry, CreatedAt = last.CreatedAt,
                });
                continue;
            }
            var pick = U(RegionStream) * totalWeight;
            var r = 0;
            while (r < s.Regions.Count - 1 && (pick -= s.Regions[r].Weight) > 0) r++;
            var region = s.Regions[r];
            var leadTags = new List<string>();
            for (var t = 0; t < tags.Length; t++)
                if (U(TagStream + t) < tags[t].Value) leadTags.Add(tags[t].Key);
            var expiry = start.AddDays(s.Leads.ExpiryDaysMin + (int)(U(ExpiryStream) * (s.Leads.ExpiryDaysMax - s.Leads.ExpiryDaysMin + 1)));
            leads.Add(new Lead
            {
                Id = id,
                Phone = Phone(region, U(PhoneStream)),
                Region = region.Name,
                CustomerId = s.Leads.HasCustomers ? $"C{id}" : null,
                TimeZone = region.Zone,
                Tags = leadTags,
                Priority = leadTags.Contains("high-value") ? 1 : 0,
                PolicyExpiry = expiry,
                CreatedAt = start.AddDays(-(int)(U(CreatedStream) * 60)).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
            });
        }
        return leads;
    }

    private static string Phone(Region region, double u) => region.Prefix + ((long)(u * 1e8)).ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>Whether lead <paramref name="id"/> is a further number of <paramref name="customer"/> (whose first lead is <c>C{first id}</c>): the customer's own draw says how many numbers they have.</summary>
    private static bool FurtherNumber(LeadList list, ulong seed, string customer, int id)
    {
        var first = int.Parse(customer.AsSpan(1), CultureInfo.InvariantCulture);
        var u = Crn.Uniform(seed, first, 0, CustomerStream);
        var numbers = u < list.ThreeNumbers ? 3 : u < list.ThreeNumbers + list.TwoNumbers ? 2 : 1;
        return id - first < numbers;
    }

    /// <summary>
    /// The leads as the dialer holds them once imported at <paramref name="importedUtc"/> (<c>LeadImporter</c>): the file's tags
    /// beside those the campaign's tag rules give (<see cref="LeadRules.Apply"/>, the importer's rule, with no history yet), each
    /// with its skill requirement. <paramref name="people"/> stay as generated: a rule's tag is the dialer's guess, not the
    /// callee's trait (the default churn-risk rule tags every lead expiring within 15 days).
    /// </summary>
    public static List<Lead> Imported(Scenario s, IReadOnlyList<Lead> people, DateTime importedUtc)
    {
        var rules = s.Settings.TagRules;
        var routing = new RoutingRules(s.Campaign, s.Skills, new RequirementTable());
        var today = DateOnly.FromDateTime(importedUtc);
        var leads = new List<Lead>(people.Count);
        foreach (var p in people)
        {
            var added = LeadRules.Apply(rules, new HashSet<string>(p.Tags, StringComparer.Ordinal), new LeadFacts(null, null, p.PolicyExpiry, null, []), today);
            var lead = new Lead
            {
                Id = p.Id, Phone = p.Phone, Region = p.Region, TimeZone = p.TimeZone, CustomerId = p.CustomerId, Tags = [.. p.Tags, .. added],
                Priority = p.Priority, PolicyExpiry = p.PolicyExpiry, CreatedAt = p.CreatedAt, ConsentAt = p.ConsentAt, ConsentSource = p.ConsentSource,
            };
            routing.Apply(lead);
            leads.Add(lead);
        }
        return leads;
    }

    /// <summary>A lead list as a Leads CSV (DESIGN.md), so simulated leads enter a store the way a real list does.</summary>
    public static string ToCsv(IEnumerable<Lead> leads)
    {
        var csv = new StringBuilder("phone,region,timezone,customer_id,policy_expiry,tags,priority\n");
        foreach (var l in leads)
            csv.Append(CultureInfo.InvariantCulture, $"{l.Phone},{l.Region},{l.TimeZone.Id},{l.CustomerId ?? $"C{l.Id}"},{l.PolicyExpiry:yyyy-MM-dd},{string.Join(';', l.Tags)},{l.Priority}\n");
        return csv.ToString();
    }
}
