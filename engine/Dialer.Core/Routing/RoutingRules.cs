using Dialer.Core.Domain;

namespace Dialer.Core.Routing;

/// <summary>Turns a campaign's routing rules into each lead's interned <see cref="SkillRequirement"/>, once, when the lead is loaded.</summary>
public sealed class RoutingRules(CampaignConfig campaign, SkillCatalog skills, RequirementTable requirements)
{
    private readonly (RoutingRule Rule, (int Skill, byte Min)[] Terms)[] _rules =
        [.. campaign.Routing.Select(r => (r, r.Require.Select(t => (skills.Intern(t.Key), t.Value)).ToArray()))];

    public void Apply(Lead lead)
    {
        var terms = new List<(int, byte)>();
        foreach (var (rule, t) in _rules)
            if (rule.Matches(lead)) terms.AddRange(t);
        lead.Requirement = terms.Count == 0 ? SkillRequirement.None : requirements.Intern(terms);
    }
}
