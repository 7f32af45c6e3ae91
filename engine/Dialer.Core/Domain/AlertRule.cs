namespace Dialer.Core.Domain;

/// <summary>
/// One alert rule of a campaign (settings <c>alerts</c>): when <see cref="Kind"/>'s condition has held for
/// <see cref="ForSeconds"/>, the alert is raised (event stream, dashboard, audit log) and its <see cref="Actions"/> are
/// taken once; it clears when the condition stops holding. `dialer serve` evaluates the rules once a second.
/// </summary>
public sealed record AlertRule
{
    /// <summary>Rule kinds, by their JSON name, and what <see cref="Threshold"/> means for each (null: not used).</summary>
    public static readonly IReadOnlyDictionary<string, string?> Kinds = new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["abandon_near_cap"] = "share of the abandon cap, today or over 30 days, within (0, 1]",
        ["trunk_answer_rate_low"] = "live answers per call placed on a trunk over the last for_seconds (at least 20 calls), within (0, 1)",
        ["trunk_down"] = null,
        ["no_agents"] = null,
        ["engine_faulted"] = null,
        ["outbox_backlog"] = "attempt writes queued for the store, ≥ 1",
        ["hopper_low"] = "pending leads due now (re-counted every 10 s), ≥ 1: the alert holds while fewer are left",
        ["agents_idle"] = "seconds the ready agents have waited for a call, on average, ≥ 1",
        ["safe_harbor_late"] = "milliseconds a safe-harbor message started past the callee's deadline, 99th percentile since the engine started, ≥ 1",
    };

    /// <summary>What each action does: pause_campaign (the hopper gives no more leads; calls up finish), trunk_out (the trunk
    /// the alert is about takes no more calls until its driver reports it healthy again; trunk_answer_rate_low only),
    /// trunk_share (the trunk may use only <see cref="Share"/> of its channels, so traffic moves to the next-cheapest
    /// trunks, until the alert clears; trunk_answer_rate_low only), notify (the alert goes to the webhooks that take `alert`).</summary>
    public static readonly IReadOnlySet<string> ActionNames = new HashSet<string>(StringComparer.Ordinal) { "pause_campaign", "trunk_out", "trunk_share", "notify" };

    /// <summary>Actions that act on the trunk the alert is about: only a rule about one trunk's figures takes them.</summary>
    private static readonly IReadOnlySet<string> TrunkActions = new HashSet<string>(StringComparer.Ordinal) { "trunk_out", "trunk_share" };

    public static IReadOnlyList<AlertRule> Seed { get; } =
    [
        new() { Kind = "abandon_near_cap", Threshold = 0.8, Actions = ["notify"] },
        new() { Kind = "abandon_near_cap", Threshold = 0.95, Actions = ["pause_campaign", "notify"] },
        new() { Kind = "trunk_answer_rate_low", Threshold = 0.15, ForSeconds = 600, Actions = ["notify"] },
        new() { Kind = "trunk_down", ForSeconds = 10, Actions = ["notify"] },
        new() { Kind = "no_agents", ForSeconds = 60 },
        new() { Kind = "engine_faulted", Actions = ["notify"] },
        new() { Kind = "outbox_backlog", Threshold = 1000, ForSeconds = 5, Actions = ["notify"] },
    ];

    /// <summary>One of <see cref="Kinds"/>: abandon_near_cap, trunk_answer_rate_low, trunk_down, no_agents (none ready, talking or in wrap-up), engine_faulted (or not answering), outbox_backlog, hopper_low, agents_idle, safe_harbor_late.</summary>
    public string Kind { get; init; } = "";
    public double? Threshold { get; init; }
    public double ForSeconds { get; init; }
    public List<string> Actions { get; init; } = [];
    /// <summary>trunk_share: the share of its channels the trunk keeps while the alert holds, within (0, 1).</summary>
    public double Share { get; init; } = 0.5;

    public void Validate(string path, Dictionary<string, string> errors)
    {
        if (!Kinds.TryGetValue(Kind, out var threshold)) { errors[$"{path}.kind"] = $"unknown rule ({string.Join(", ", Kinds.Keys)})"; return; }
        if (threshold is null && Threshold is not null) errors[$"{path}.threshold"] = $"{Kind} takes no threshold";
        if (Kind == "abandon_near_cap" && Threshold is not (> 0 and <= 1)) errors[$"{path}.threshold"] = $"must be the {threshold}";
        if (Kind is "outbox_backlog" or "hopper_low" or "agents_idle" or "safe_harbor_late" && Threshold is not >= 1) errors[$"{path}.threshold"] = $"must be the {threshold}";
        if (Share is <= 0 or >= 1) errors[$"{path}.share"] = "must be within (0, 1): the share of its channels the trunk keeps";
        if (Kind == "trunk_answer_rate_low" && Threshold is not (> 0 and < 1)) errors[$"{path}.threshold"] = $"must be the {threshold}";
        if (Kind == "trunk_answer_rate_low" && ForSeconds < 60) errors[$"{path}.for_seconds"] = "the window must be at least 60 s";
        if (ForSeconds is < 0 or > 86_400) errors[$"{path}.for_seconds"] = "must be within 0..86400";
        for (var i = 0; i < Actions.Count; i++)
            if (!ActionNames.Contains(Actions[i])) errors[$"{path}.actions[{i}]"] = $"unknown action ({string.Join(", ", ActionNames)})";
            else if (TrunkActions.Contains(Actions[i]) && Kind != "trunk_answer_rate_low") errors[$"{path}.actions[{i}]"] = $"{Actions[i]} acts on a trunk that answers too little: only trunk_answer_rate_low takes it";
    }
}
