using System.Globalization;
using System.Text;

namespace Dialer.Core.Domain;

/// <summary>What an id names: a callee leg, its inter-server leg, an agent's phone, an agent's bridge, an inter-server bridge.</summary>
public enum ChannelKind : byte { Call, Xfer, Agent, AgentBridge, XferBridge }

/// <summary>
/// Who created a channel or bridge: the engine node and the campaign. Every id a node gives Asterisk carries it, so a
/// node reconciles and hangs up only what is its own (nodes can share an Asterisk), and every id is prefix-free:
/// Asterisk checks unique-id conflicts by prefix and without case (creating <c>dialer-1</c> fails 409 while
/// <c>dialer-14</c> is up), so no id we make may be the start of another.
/// </summary>
/// <remarks>
/// Shape: <c>dialer-{node}-{campaign}-{kind}-{key}-</c>, e.g. <c>dialer-pbx1-renewals-call-14-</c>. Names are folded to
/// lower case (Asterisk compares ids without case), letters, digits and '.' are kept, every other byte is written
/// <c>_hh</c>; so no field holds a '-', every id has exactly five and ends with one: none can be the start of another.
/// </remarks>
public sealed class ChannelOwner
{
    private const string Root = "dialer";
    private const int MaxToken = 40; // Asterisk keeps 150 characters of a unique id: stay well inside it

    public ChannelOwner(string node, string campaign)
    {
        Node = node;
        Campaign = campaign;
        NodeToken = Token(node, "node");
        CampaignToken = Token(campaign, "campaign");
        Prefix = $"{Root}-{NodeToken}-{CampaignToken}-";
    }

    /// <summary>The owner of a process that did not name one (simulations, tests).</summary>
    public static ChannelOwner Default { get; } = new("local", "default");

    public string Node { get; }
    public string Campaign { get; }
    /// <summary>The node and campaign as they are written in ids.</summary>
    public string NodeToken { get; }
    public string CampaignToken { get; }
    /// <summary>"dialer-{node}-{campaign}-": what every id of this owner starts with.</summary>
    public string Prefix { get; }

    public string Call(long callId) => Id(ChannelKind.Call, callId.ToString(CultureInfo.InvariantCulture));
    public string Xfer(long callId) => Id(ChannelKind.Xfer, callId.ToString(CultureInfo.InvariantCulture));
    public string XferBridge(long callId) => Id(ChannelKind.XferBridge, callId.ToString(CultureInfo.InvariantCulture));
    public string Agent(string agentId) => Id(ChannelKind.Agent, Token(agentId, "agent id"));
    public string AgentBridge(string agentId) => Id(ChannelKind.AgentBridge, Token(agentId, "agent id"));

    /// <summary>True if <paramref name="id"/> is a well-formed id of this owner.</summary>
    public bool Owns(string id) => id.StartsWith(Prefix, StringComparison.Ordinal) && ChannelIds.TryParse(id, out _);

    private string Id(ChannelKind kind, string key) => $"{Prefix}{ChannelIds.KindName(kind)}-{key}-";

    /// <summary>A name as an id field: lower case, [a-z0-9.] kept, anything else as _hh per UTF-8 byte.</summary>
    internal static string Token(string name, string what)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException($"channel ids: the {what} is empty");
        var sb = new StringBuilder(name.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(name.ToLowerInvariant()))
            if (b is >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' or (byte)'.') sb.Append((char)b);
            else sb.Append('_').Append(b.ToString("x2", CultureInfo.InvariantCulture));
        if (sb.Length > MaxToken)
            throw new ArgumentException($"channel ids: the {what} '{name}' is too long ({sb.Length} characters once encoded, at most {MaxToken})");
        return sb.ToString();
    }
}

/// <summary>
/// The owners one engine acts for: itself, plus the nodes whose campaign it took over (their calls and agent lines are
/// its to adopt or hang up). Reconciliation touches only ids one of these owns: other nodes and campaigns may share the Asterisk.
/// </summary>
public sealed class ChannelOwners
{
    private readonly ChannelOwner[] _all;

    public ChannelOwners(ChannelOwner self, IEnumerable<ChannelOwner>? takenOver = null)
    {
        Self = self;
        _all = [self, .. (takenOver ?? []).Where(o => o.Prefix != self.Prefix).DistinctBy(o => o.Prefix)];
    }

    /// <summary>This node: what it creates from now on carries this owner.</summary>
    public ChannelOwner Self { get; }
    /// <summary><see cref="Self"/> first, then the owners taken over.</summary>
    public IReadOnlyList<ChannelOwner> All => _all;

    /// <summary>The owner of <paramref name="id"/> among these, and what the id names; null if none of them made it.</summary>
    public ChannelOwner? OwnerOf(string id, out ParsedChannelId parsed)
    {
        if (ChannelIds.TryParse(id, out parsed))
            foreach (var o in _all)
                if (parsed.IsOwnedBy(o)) return o;
        return null;
    }

    public bool Owns(string id) => OwnerOf(id, out _) is not null;
}

/// <summary>One of our ids read back: whose it is and what it names.</summary>
public readonly record struct ParsedChannelId(string Node, string Campaign, ChannelKind Kind, string Key)
{
    /// <summary>The call id of a <see cref="ChannelKind.Call"/>, <see cref="ChannelKind.Xfer"/> or <see cref="ChannelKind.XferBridge"/>; −1 otherwise.</summary>
    public long CallId => Kind is ChannelKind.Call or ChannelKind.Xfer or ChannelKind.XferBridge
                          && long.TryParse(Key, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1;

    public bool IsOwnedBy(ChannelOwner owner) => Node == owner.NodeToken && Campaign == owner.CampaignToken;
}

/// <summary>Reads ids made by <see cref="ChannelOwner"/> (for reconciliation: which live channels are whose).</summary>
public static class ChannelIds
{
    private static readonly string[] Kinds = ["call", "xfer", "agent", "bridge", "xbridge"];

    internal static string KindName(ChannelKind kind) => Kinds[(int)kind];

    /// <summary>
    /// Parses "dialer-{node}-{campaign}-{kind}-{key}-". Node, campaign and key stay in their encoded form (lower case,
    /// escapes): compare them with <see cref="ParsedChannelId.IsOwnedBy"/>. Anything else (Asterisk's own ids, older
    /// "dialer-14" ids) is not ours: false.
    /// </summary>
    public static bool TryParse(string id, out ParsedChannelId parsed)
    {
        parsed = default;
        var parts = id.Split('-');
        if (parts is not ["dialer", { Length: > 0 } node, { Length: > 0 } campaign, var kind, { Length: > 0 } key, ""]) return false;
        var k = Array.IndexOf(Kinds, kind);
        if (k < 0) return false;
        parsed = new ParsedChannelId(node, campaign, (ChannelKind)k, key);
        return true;
    }
}
