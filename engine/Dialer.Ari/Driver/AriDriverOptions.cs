using Dialer.Core.Domain;

namespace Dialer.Ari.Driver;

/// <summary>How the ARI driver maps the engine's commands onto Asterisk (see asterisk-conf/README.md).</summary>
public sealed record AriDriverOptions
{
    /// <summary>Node and campaign, carried in every channel and bridge id the driver makes (the engine's EngineSetup.Owner must be the same).</summary>
    public ChannelOwner Owner { get; init; } = ChannelOwner.Default;
    /// <summary>
    /// Owners whose campaign this driver's engine took over (dead nodes): their agent lines still in their bridges are taken
    /// back and their channels count as ours at reconciliation. New channels and bridges always carry <see cref="Owner"/>.
    /// </summary>
    public IReadOnlyList<ChannelOwner> TakenOver { get; init; } = [];
    /// <summary>
    /// Asked right before each call leaves for Asterisk, which cannot check a fencing token itself: null when it may go,
    /// else why not (this node's ownership lease of the campaign ran out by its own clock: a paused node that wakes up
    /// must not dial a row the new owner has already closed). Refused, the call ends as never placed; no agent's phone is
    /// called into its bridge and no leg to an agent on another server is dialed either (the new owner has the agents).
    /// </summary>
    public Func<string?>? MayPlace { get; init; }
    /// <summary>Server id (AriServerOptions.Id) carrying each trunk, by trunk name; unlisted trunks use the first server.</summary>
    public IReadOnlyDictionary<string, string> TrunkServers { get; init; } = new Dictionary<string, string>();
    /// <summary>Server id of the agents' phones and bridges (default: the first server). Calls can only reach agents on their own server.</summary>
    public string? AgentServer { get; init; }
    /// <summary>Server id of each agent whose phone is not on <see cref="AgentServer"/>, by agent id.</summary>
    public IReadOnlyDictionary<string, string> AgentServers { get; init; } = new Dictionary<string, string>();
    /// <summary>
    /// How a server reaches another server's agent: a dial string with {agent} and {server}, e.g. "PJSIP/{agent}@{server}"
    /// (a PJSIP endpoint per peer server whose calls land in [dialer-interserver]). Needed when agents and trunks span servers.
    /// </summary>
    public string? InterServerEndpoint { get; init; }
    /// <summary>
    /// Other campaigns or engine nodes use these Asterisk servers too: a phone calling in (or an inter-server leg arriving)
    /// for an agent this driver does not know is left alone for its owner, never hung up. Off: it is hung up as a stray.
    /// </summary>
    public bool SharedServers { get; init; }
    /// <summary>Call each agent's phone into its bridge at start and after reconnects; false: agents dial in through [dialer-agents].</summary>
    public bool CallAgents { get; init; } = true;
    /// <summary>Keys on the agent's phone: ready (ends wrap-up or a pause), pause, and hang up the callee.</summary>
    public string DtmfReady { get; init; } = "1";
    public string DtmfPause { get; init; } = "2";
    public string DtmfHangup { get; init; } = "#";
    /// <summary>Dial string of each agent's phone by agent id; default "PJSIP/{agent id}".</summary>
    public IReadOnlyDictionary<string, string> AgentEndpoints { get; init; } = new Dictionary<string, string>();
    /// <summary>How long an agent's phone may ring when we call it at login.</summary>
    public int AgentRingSeconds { get; init; } = 30;

    /// <summary>Answering-machine detection: the answered call is sent to <see cref="AmdContext"/>, which runs AMD() and comes back with Stasis(app,amd,STATUS,CAUSE).</summary>
    public bool Amd { get; init; }
    public string AmdContext { get; init; } = "dialer-amd";
    public string AmdExtension { get; init; } = "s";
    /// <summary>
    /// Agentless campaigns that leave a message on machines: [dialer-amd] waits for the greeting to end (WaitForSilence,
    /// channel variable DIALER_MACHINE_WAIT=1) before it hands a MACHINE back, so the message starts after the beep.
    /// </summary>
    public bool MachineWaitsForBeep { get; init; }

    /// <summary>What a live callee nobody could take within 2 s hears before we hang up.</summary>
    public string SafeHarborMedia { get; init; } = "sound:dialer/safe-harbor";
    /// <summary>
    /// Sent this long before the callee's 2 s are up, so the message starts within them: Asterisk 22 began it 21 ms after a
    /// command sent at exactly 2.00 s on an idle lab machine (issue 11); the margin covers a loaded one.
    /// </summary>
    public TimeSpan SafeHarborLead { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>
    /// The rule's limit from a callee's answer to their agent: a callee bridged later than this on Asterisk's clock (a slow
    /// REST), or who hung up before the bridge was made, is reported abandoned however the engine had matched them.
    /// </summary>
    public TimeSpan AbandonAfter { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Hang up a safe-harbor call after this long even if Asterisk never reports the playback finished.</summary>
    public TimeSpan SafeHarborMax { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Record each agent conversation (a bridge recording named after the call's channel id).</summary>
    public bool RecordCalls { get; init; }
    /// <summary>
    /// The recording notice (the compliance profile's recording.notice, a media URI), played into the bridge as the callee
    /// joins the agent: the connect is not delayed by it, and both hear it before they talk; null plays none.
    /// </summary>
    public string? RecordingNotice { get; init; }
    public string RecordingFormat { get; init; } = "wav";

    /// <summary>Caller id shown to callees, by lead region (local presence); <see cref="DefaultCallerId"/> elsewhere.</summary>
    public IReadOnlyDictionary<string, string> CallerIdByRegion { get; init; } = new Dictionary<string, string>();
    public string? DefaultCallerId { get; init; }

    /// <summary>
    /// Opt-in for unattended load runs only: an agent is made ready this long after a call ends. Null (the default): agents
    /// say ready themselves, through the API or the <see cref="DtmfReady"/> key.
    /// </summary>
    public TimeSpan? AutoReadyAfter { get; init; }

    /// <summary>REST requests in a row that get no answer (refused, reset, timed out, 502–504) before a server's trunks are taken out.</summary>
    public int ServerFailures { get; init; } = 3;
    /// <summary>95th percentile of a server's recent REST latencies above which its trunks are taken out (a slow Asterisk leaves callees in silence).</summary>
    public TimeSpan ServerMaxLatency { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How often the driver looks at each server's health (events socket, REST failures and latency): a server goes out this soon after it shows.</summary>
    public TimeSpan HealthCheckEvery { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>After Asterisk refused a call while its trunk endpoint was fine (it is shutting down), its trunks rest this long before calls try again.</summary>
    public TimeSpan RefusalPause { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Network failures in a row (cause 27/34/38/41/42/44/102, a dial timeout without any provisional response, or no answer from Asterisk at all) that take a trunk out.</summary>
    public int BreakerFailures { get; init; } = 3;
    /// <summary>How long a tripped trunk rests before recovery probes (doubles while probes fail, at most 10 min).</summary>
    public TimeSpan BreakerCooldown { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Smoothed round trip (fresh RTCP of calls up) above which a trunk is taken out.</summary>
    public double MaxRttMs { get; init; } = 500;
    /// <summary>Smoothed share of RTP packets lost (RTCP) above which a trunk is taken out.</summary>
    public double MaxLoss { get; init; } = 0.05;
    /// <summary>
    /// Hear every call's RTCP summary as it ends (RTPAUDIOQOS): lets ChannelVarset events through the app's event filter,
    /// about two thirds of a call's events on a real Asterisk. Off (default): trunk quality comes from polling (<see cref="RtcpPollEvery"/>).
    /// </summary>
    public bool EveryCallQuality { get; init; }
    /// <summary>How often one live call per trunk is asked for CHANNEL(rtcp,all); zero disables it (every answered call still reports RTPAUDIOQOS as it ends).</summary>
    public TimeSpan RtcpPollEvery { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How often each trunk's PJSIP endpoint state is read (GET /endpoints: a failed qualify reads offline); one that is out is read twice a second.</summary>
    public TimeSpan EndpointPollEvery { get; init; } = TimeSpan.FromSeconds(1);
}
