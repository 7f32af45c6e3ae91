using Dialer.Core.Text;
using Dialer.Runtime;
using Dialer.Ari.Client;
using Dialer.Emulator;
using Dialer.Core.Domain;
using Dialer.Sim.Config;
using Dialer.Store;

namespace Dialer.Ari.Tests;

/// <summary>`dialer run`: the campaign's leads in the store (imported from the optional CSV), attempts written there, open ones reconciled at start.</summary>
public class RunConfigTests : IDisposable
{
    // Test data only: a fixed PII key.
    internal const string PiiKey = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=";
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-run-").FullName;

    // Lab numbers through the importer's E.164 rules: +27 8… answers and hangs up 6 s later (it starts with 2), +48 60… is busy (486…).
    internal const string Leads = "phone,region,timezone,priority,tags\n+27821230001,ZA,UTC,1,vip;renewal\n+48601230002,PL,UTC,,\n";

    private string Write(string yaml, string? leads = Leads)
    {
        if (leads is not null) File.WriteAllText(Path.Combine(_dir, "leads.csv"), leads);
        var file = Path.Combine(_dir, "run.yaml");
        File.WriteAllText(file, yaml);
        return file;
    }

    private string Db => $"sqlite:{Path.Combine(_dir, "run.db")}";

    private string Yaml(Uri ari, string extra = "", string leads = "leads: leads.csv", string retries = "busy: 3600, congestion: 1") => $$"""
        name: lab
        timezone: UTC
        campaign: {pacer: progressive, window_start: "00:00", window_end: "24:00", retry_delay_seconds: { {{retries}} } }
        trunks:
          - {name: carrier-a, channels: 10, calls_per_second: 5, rates: {"+": 0.01}, endpoint: "PJSIP/{number}@carrier-a"}
        agents:
          - {id: agent1}
        db: "{{Db}}"
        pii_key: "{{PiiKey}}"
        node: test-node
        {{leads}}
        ari:
          servers: [{id: pbx1, url: "{{ari}}", user: dialer, password: dialer}]
          auto_ready_seconds: 0.05
        {{extra}}
        """;

    /// <summary>
    /// The last status line shows <paramref name="counts"/> with no call in flight: a call the stop catches before the store
    /// took its row is never placed (no attempt row), so stopping earlier would leave fewer attempts than counted.
    /// </summary>
    private static Func<string, bool> Settled(string counts) => t =>
        t.Split('\n').LastOrDefault(l => l.Contains(" | placed ")) is { } l && l.Contains(counts) && l.Contains("in flight 0 ");

    private static async Task<string> Run(RunConfig config, Func<string, bool> until)
    {
        var log = new StringWriter();
        var output = TextWriter.Synchronized(log);
        string Text() { lock (output) return log.ToString(); } // the synchronized writer locks on itself
        // The run's own budget outlasts the wait, so a slow machine fails here with the run's output, not in a later assert.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var run = AriRunner.RunAsync([config], new NodeOptions(), output, TimeSpan.FromMilliseconds(100), cts.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!until(Text()) && !run.IsCompleted)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("the run did not get there in 30 s; it said:\n" + Text());
            await Task.Delay(5);
        }
        await cts.CancelAsync();
        await run;
        return Text();
    }

    [Fact]
    public async Task Run_imports_the_csv_dials_from_the_store_and_prints_live_status()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var text = await Run(RunConfig.Load(Write(Yaml(emu.BaseUri))), Settled("placed 2 live 1"));
        // Both leads: the human is bridged to the agent and hangs up, the busy number is not retried within the run.
        Assert.Contains("leads.csv: 2 rows, accepted 2", text);
        Assert.Contains("dial level", text);
        Assert.True(text.Split('\n').Last(l => l.Contains("placed")).Contains("placed 2 live 1"), text);
        Assert.Equal(0, emu.ActiveChannels); // the agent's phone was hung up at stop
        using var db = StoreDb.Open(Db);
        var campaigns = new Campaigns(db);
        var c = campaigns.Find("lab")!;
        Assert.Null(new CampaignOwnership(db, "another-node").Owner(c.Id, DateTime.UtcNow)); // the stop handed the campaign over
        var counts = campaigns.Counts(c.Id);
        Assert.True((2L, 0L) == (counts.Attempts, counts.Dialing), $"attempts {counts.Attempts}, dialing {counts.Dialing}; the run said:\n{text}");
    }

    /// <summary>
    /// `dialer run` end to end on the store: an agent logs in, two people answer and are bridged and hang up, a machine
    /// is detected by AMD and hung up, a busy number is dialed again after its retry delay, a number that never
    /// answers times out; the attempt rows carry the same outcomes the engine counted and Asterisk saw every call.
    /// </summary>
    [Fact]
    public async Task Run_completes_a_small_campaign_with_the_engines_accounting_in_the_store()
    {
        // Lab numbers: 2… answers and hangs up, 8… is a machine, 486… is busy, 180… never answers.
        const string leads = "phone,region,timezone\n+27821230001,ZA,UTC\n+27821230003,ZA,UTC\n+8613800000001,CN,UTC\n" +
                             "+48601230002,PL,UTC\n+18015550123,US,UTC\n";
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var text = await Run(RunConfig.Load(Write(Yaml(emu.BaseUri, "  amd: true", retries: "busy: 1"), leads)), Settled("placed 6 live 2"));
        using var db = StoreDb.Open(Db);
        var campaigns = new Campaigns(db);
        var id = campaigns.Find("lab")!.Id;
        var counts = campaigns.Counts(id);
        using var c = db.Connect();
        var outcomes = Dapper.SqlMapper.Query<(string, long)>(c, "SELECT COALESCE(outcome, 'open'), COUNT(*) FROM attempts GROUP BY outcome ORDER BY outcome").ToList();
        (string, long)[] expected = [("busy", 2L), ("human", 2L), ("machine", 1L), ("no_answer", 1L)];
        Assert.True(expected.SequenceEqual(outcomes), $"attempt outcomes {string.Join(", ", outcomes)}; the run said:\n{text}");
        Assert.Equal((6L, 0L, 2L, 0L), (counts.Attempts, counts.Dialing, counts.LiveAnswers, counts.Abandoned));
        Assert.True(text.Split('\n').Last(l => l.Contains("placed")).Contains("placed 6 live 2 abandoned 0"), text);
        Assert.Equal(6 + 1, emu.ChannelsCreated); // our six calls and the agent's phone: nothing dialed twice
        Assert.Equal(0, emu.ActiveChannels);
    }

    /// <summary>
    /// A node crashed with two attempts open: one call ended meanwhile, one is still up in Asterisk with nobody (no agent's
    /// bridge holds it). The next run closes the first as network trouble and hangs up the second, closed as abandoned; after
    /// their retry delays (1 s here) the leads are dialed again, once each.
    /// </summary>
    [Fact]
    public async Task Run_reconciles_attempts_left_open_against_asterisks_channels_before_dialing()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var file = Write(Yaml(emu.BaseUri, leads: "", retries: "congestion: 1, abandoned: 1"), leads: null);
        var config = RunConfig.Load(file);
        using (var db = StoreDb.Open(Db))
        {
            Migrator.Migrate(db);
            var pii = config.Pii();
            var campaigns = new Campaigns(db);
            var c = campaigns.Create("lab", new CampaignSettings(), DateTime.UtcNow);
            new LeadImporter(db, pii).Import(c.Id, "lab", CsvReader.Text(Leads), DateTime.UtcNow);
            campaigns.SetStatus(c.Id, CampaignStatus.Running, DateTime.UtcNow);
            var hopper = new DbLeadSource(db, pii, c.Id, config.Settings!.ToConfig(config.Name), "test-node");
            var crashed = new DbAttemptLog(db, c.Id, "test-node");
            var first = crashed.ReserveCallIds();
            var owner = new ChannelOwner("test-node", "lab");
            for (var i = 0; i < 2; i++)
            {
                var lead = hopper.Next(DateTime.UtcNow)!;
                lead.Attempts++;
                crashed.Placed(new Call { Id = first + i, Owner = owner, Lead = lead, Attempt = 1, Trunk = 0, PlacedAt = DateTime.UtcNow, PLive = 0.5f });
            }
            // The second call is still up in Asterisk (the lab's 1… numbers answer and stay).
            await using (var ari = new AriClient(new AriServerOptions { Id = "pbx1", BaseUri = emu.BaseUri, User = "dialer", Password = "dialer" }))
            {
                var connected = new Connected();
                ari.Start(connected); // the app must be connected for the call to enter Stasis and stay
                await connected.Task.WaitAsync(TimeSpan.FromSeconds(3));
                await ari.OriginateAsync(owner.Call(first + 1), "PJSIP/1001@carrier-a", "callee", null, 30, null);
                // Answered and in Stasis before the app's socket closes: a channel entering an app nobody has is hung up, and
                // recovery counts a callee abandoned only once it was live (a ringing one is just hung up).
                var until = DateTime.UtcNow.AddSeconds(10);
                while ((await ari.GetChannelAsync(owner.Call(first + 1)))?.State != ChannelState.Up)
                {
                    Assert.True(DateTime.UtcNow < until, "the crashed node's call answered within 10 s");
                    await Task.Delay(5);
                }
            }
            Assert.Equal(2, campaigns.Counts(c.Id).Dialing);
        }
        var text = await Run(config, Settled("placed 2 live 1"));
        // The call still up had answered with nobody to take it (no agent's bridge holds it): hung up, closed as abandoned.
        Assert.True(text.Contains("calls adopted (still bridged to an agent) 0, agent lines taken back 0, channels hung up (nobody could own them) 1, bridges deleted (nothing kept in them) 0; " +
                                  "open attempts closed 2 (1 as abandoned)"), "the run said:\n" + text);
        using (var db = StoreDb.Open(Db))
        {
            var campaigns = new Campaigns(db);
            var counts = campaigns.Counts(campaigns.Find("lab")!.Id);
            Assert.Equal(4, counts.Attempts); // two reconciled, two new: each lead dialed again once, never while its old call was up
            Assert.Equal(0, counts.Dialing);
        }
        Assert.Equal(2 + 1 + 1, emu.ChannelsCreated); // the old call, two new calls, the agent's phone
    }

    [Theory]
    [InlineData("  no_such_setting: 1", "ari.no_such_setting: unknown key")]
    [InlineData("  amd: maybe", "ari.amd: expected true or false")]
    [InlineData("  agent_server: pbx9", "ari.agent_server: server 'pbx9' is not one of ari.servers (pbx1)")]
    [InlineData("  app: \"dialer app\"", "ari.app: \"dialer app\" cannot name a Stasis app")]
    public void Config_errors_name_the_key(string extra, string message)
    {
        var e = Assert.Throws<ConfigException>(() => RunConfig.Load(Write(Yaml(new Uri("http://127.0.0.1:1/ari/"), extra))));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task Rejected_lead_rows_are_reported_with_row_and_field()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var text = await Run(RunConfig.Load(Write(Yaml(emu.BaseUri), "phone,region,timezone\n+27821230001,ZA,Mars/Olympus\n")), t => t.Contains("dial level"));
        Assert.Contains("rejected 1", text);
        Assert.Contains("leads.csv:2: timezone:", text);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The crashed node's events connection: only says when it is up.</summary>
    private sealed class Connected : IAriEventSink
    {
        private readonly TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task Task => _up.Task;
        public ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct) => ValueTask.CompletedTask;

        public ValueTask ReconcileAsync(AriClient server, ReconcileReason reason, CancellationToken ct)
        {
            _up.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}
