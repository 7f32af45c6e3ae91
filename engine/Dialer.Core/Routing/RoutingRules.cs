using Dialer.Core.Domain;

namespace Dialer.Core.Routing;

/// <summary>Turns a campaign's routing rules into each lead's interned <see cref="SkillRequirement"/>, once, when the lead is loaded.</summary>
public sealed class RoutingRules
{
    public const int MaxRules = 64;
    private readonly (RoutingRule Rule, (int Skill, byte Min)[] Terms)[] _rules;
    private readonly RequirementTable _requirements;

    public RoutingRules(CampaignConfig campaign, SkillCatalog skills, RequirementTable requirements)
    {
        if (campaign.Routing.Count > MaxRules) throw new ArgumentException($"routing: {campaign.Routing.Count} rules, at most {MaxRules}");
        _rules = [.. campaign.Routing.Select(r => (r, r.Require.Select(t => (skills.Intern(t.Key), t.Value)).ToArray()))];
        _requirements = requirements;
        Rules = campaign.Routing;
    }

    /// <summary>The rules in order: bit i of <see cref="MatchMask"/> is rule i (the database hopper spells each as SQL).</summary>
    public IReadOnlyList<RoutingRule> Rules { get; }

    /// <summary>Which rules the lead matches, bit i for rule i: leads with one mask have one requirement. Allocates nothing.</summary>
    public ulong MatchMask(Lead lead)
    {
        var mask = 0UL;
        for (var i = 0; i < _rules.Length; i++)
            if (_rules[i].Rule.Matches(lead)) mask |= 1UL << i;
        return mask;
    }

    public void Apply(Lead lead)
    {
        var terms = new List<(int, byte)>();
        foreach (var (rule, t) in _rules)
            if (rule.Matches(lead)) terms.AddRange(t);
        lead.Requirement = terms.Count == 0 ? SkillRequirement.None : _requirements.Intern(terms);
    }
}
