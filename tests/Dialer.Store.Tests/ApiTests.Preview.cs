using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dialer.Api;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Modes;
using Dapper;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Store.Tests;

/// <summary>Preview over the API (the agent's offer, number masked; the decision) and the survey answers' report.</summary>
public sealed partial class ApiTests
{
    private sealed class NoDesk : IPreviewDesk
    {
        public void Offer(PreviewOffer offer) { }
        public void Withdraw(PreviewOffer offer, string reason) { }
    }

    /// <summary>Preview campaign <paramref name="name"/> (agent a1, trunk "t", these leads) attached to the API, its loop running until <paramref name="ct"/>.</summary>
    private async Task<(EngineHost Host, Task Loop)> RunPreview(string name, Lead[] leads, CancellationToken ct)
    {
        await _client.PostAsync("/campaigns", JsonBody($"{{\"name\": \"{name}\"}}"), ct);
        var config = new CampaignConfig { Name = name, WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, Mode = DialingMode.Preview };
        var now = DateTime.UtcNow;
        var host = new EngineHost(new DialerEngine(new EngineSetup
        {
            Campaign = config,
            Agents = [new Agent { Index = 0, Id = "a1", Skills = SkillSet.From(new SkillCatalog(), []) }],
            Trunks = [new TrunkConfig { Name = "t", Channels = 1, CallsPerSecond = 1, RatePerMinute = new Dictionary<string, double> { ["+"] = 0.01 } }],
            Pacer = new CampaignSettings().CreatePacer(1), Control = new NoCalls(), Leads = new MemoryHopper(config, leads, now), Predictor = new NoPrediction(), Desk = new NoDesk(),
        }, now), TimeProvider.System);
        _app.Services.GetRequiredService<EngineRegistry>().Attach(name, host);
        return (host, host.RunAsync(ct));
    }

    [Fact]
    public async Task An_agent_reads_the_masked_offer_over_the_api()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var lead = new Lead { Id = 7, Phone = "+8613800138000", Region = "CN-SH", TimeZone = TimeZoneInfo.Utc, Tags = ["high-value"] };
        var (_, loop) = await RunPreview("p", [lead], cts.Token);

        Assert.Equal(HttpStatusCode.NoContent, (await _client.GetAsync("/campaigns/p/agents/a1/offer", cts.Token)).StatusCode);
        await _client.PostAsync("/campaigns/p/agents/a1/login", null, cts.Token);
        var offer = await (await _client.GetAsync("/campaigns/p/agents/a1/offer", cts.Token)).Content.ReadFromJsonAsync<JsonElement>(cts.Token);
        Assert.Equal(("**********8000", 7), (offer.GetProperty("phone").GetString(), offer.GetProperty("lead_id").GetInt32()));
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task The_offer_carries_the_customer_view_masked_and_without_it_when_the_store_fails()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"renewals\"}"), cts.Token);
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"claims\"}"), cts.Token);
        // The same customer in two campaigns: the agent previewing the renewal sees the claim lead too.
        const string header = "phone,region,timezone,customer_id,name,policy_no,policy_expiry,id_number\n";
        await _client.PostAsync("/campaigns/renewals/leads", new StringContent(header + "+8613800138001,CN-SH,Asia/Shanghai,C77,Zhang San,PA-001,2027-01-15,110101199001011234\n", Encoding.UTF8, "text/csv"), cts.Token);
        await _client.PostAsync("/campaigns/claims/leads", new StringContent(header + "+8613900139002,CN-SH,Asia/Shanghai,C77,Zhang San,PA-001,2027-01-15,110101199001011234\n", Encoding.UTF8, "text/csv"), cts.Token);
        var db = _app.Services.GetRequiredService<StoreDb>();
        long id;
        using (var c = db.Connect()) id = c.ExecuteScalar<long>("SELECT l.id FROM leads l JOIN campaigns ca ON ca.id = l.campaign_id WHERE ca.name = 'renewals'");
        var lead = new Lead { Id = id, Phone = "+8613800138001", Region = "CN-SH", TimeZone = TimeZoneInfo.Utc };
        var (_, loop) = await RunPreview("renewals", [lead], cts.Token);
        await _client.PostAsync("/campaigns/renewals/agents/a1/login", null, cts.Token);

        var body = await _client.GetStringAsync("/campaigns/renewals/agents/a1/offer", cts.Token);
        var customer = JsonDocument.Parse(body).RootElement.GetProperty("customer");
        Assert.Equal(("C77", "Zhang San"), (customer.GetProperty("external_id").GetString(), customer.GetProperty("name").GetString()));
        Assert.Equal(["**********8001", "**********9002"], customer.GetProperty("phones").EnumerateArray().Select(p => p.GetString()).Order());
        var leads = customer.GetProperty("leads").EnumerateArray().ToList();
        Assert.Equal(["claims", "renewals"], leads.Select(l => l.GetProperty("campaign").GetString()).Order());
        Assert.All(leads, l => Assert.Equal("PA-001", l.GetProperty("policy_no").GetString()));
        Assert.DoesNotContain("13800138001", body); // never a whole number, nor the ID number
        Assert.DoesNotContain("19900101", body);

        // The store fails: the offer still reaches the agent, saying what is missing.
        using (var c = db.Connect()) c.Execute("ALTER TABLE customer_phones RENAME TO customer_phones_gone");
        var without = await (await _client.GetAsync("/campaigns/renewals/agents/a1/offer", cts.Token)).Content.ReadFromJsonAsync<JsonElement>(cts.Token);
        Assert.Equal((id, JsonValueKind.Null), (without.GetProperty("lead_id").GetInt64(), without.GetProperty("customer").ValueKind));
        Assert.Contains("customer view", without.GetProperty("customer_error").GetString());
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task An_agent_skips_and_asks_a_callback_over_the_api_and_bad_decisions_name_their_field()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Lead Lead(long id) => new() { Id = id, Phone = $"+861380013800{id}", Region = "CN-SH", TimeZone = TimeZoneInfo.Utc };
        var (host, loop) = await RunPreview("d", [Lead(1), Lead(2)], cts.Token);
        await _client.PostAsync("/campaigns/d/agents/a1/login", null, cts.Token);
        async Task<JsonElement?> Offer()
        {
            var r = await _client.GetAsync("/campaigns/d/agents/a1/offer", cts.Token);
            return r.StatusCode == HttpStatusCode.NoContent ? null : await r.Content.ReadFromJsonAsync<JsonElement>(cts.Token);
        }
        Task<HttpResponseMessage> Decide(long offer, string body) => _client.PostAsync($"/campaigns/d/agents/a1/offer/{offer}", JsonBody(body), cts.Token);

        var first = (await Offer())!.Value;
        Assert.Equal(1, first.GetProperty("lead_id").GetInt32());
        var id = first.GetProperty("offer_id").GetInt64();
        Assert.Equal("reason", (await Problem(await Decide(id, "{\"choice\": \"skip\"}"), HttpStatusCode.BadRequest)).GetProperty("errors").EnumerateObject().Single().Name);
        Assert.Equal("choice", (await Problem(await Decide(id, "{\"choice\": \"later\"}"), HttpStatusCode.BadRequest)).GetProperty("errors").EnumerateObject().Single().Name);
        Assert.Equal("callback_at", (await Problem(await Decide(id, "{\"choice\": \"callback\", \"callback_at\": \"2020-01-01T00:00:00Z\"}"), HttpStatusCode.BadRequest))
            .GetProperty("errors").EnumerateObject().Single().Name);
        Assert.Equal(1, (await Offer())!.Value.GetProperty("lead_id").GetInt32()); // a refused decision leaves the offer as it was

        Assert.Equal(HttpStatusCode.Accepted, (await Decide(id, "{\"choice\": \"skip\", \"reason\": \"customer in hospital\"}")).StatusCode);
        var second = (await Offer())!.Value; // the skipped lead waits its hour; the next one is offered at once
        Assert.Equal(2, second.GetProperty("lead_id").GetInt32());
        var callback = JsonSerializer.Serialize(new { choice = "callback", callback_at = DateTimeOffset.UtcNow.AddHours(2) });
        Assert.Equal(HttpStatusCode.Accepted, (await Decide(second.GetProperty("offer_id").GetInt64(), callback)).StatusCode);
        Assert.Null(await Offer()); // nothing due until the callback or the skip's retry
        Assert.Equal(HttpStatusCode.Accepted, (await Decide(id, "{\"choice\": \"accept\"}")).StatusCode); // stale: that offer is gone, nothing is dialed
        var stats = await host.QueryAsync(e => (e.Stats.PreviewsSkipped, e.Stats.PreviewCallbacks, e.Stats.PreviewDecisionsStale, e.Stats.PreviewsAccepted), cts.Token);
        Assert.Equal((1L, 1L, 1L, 0L), stats);
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Preview_offers_go_out_on_the_event_stream_masked_with_what_became_of_each()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (response, events) = await OpenEvents(null, cts.Token);
        Assert.Equal("hello", (await Next(events)).EventType);
        Lead Lead(long id) => new() { Id = id, Phone = $"+861380013800{id}", Region = "CN-SH", TimeZone = TimeZoneInfo.Utc };
        var (host, loop) = await RunPreview("o", [Lead(1), Lead(2)], cts.Token);
        var phases = _app.Services.GetRequiredService<CallPhaseFeed>();
        await host.QueryAsync(e => { phases.Hook(e, "o"); return true; }, cts.Token); // as serve's start does
        async Task<JsonElement> NextOffer()
        {
            while (true)
            {
                var e = await Next(events);
                if (e.EventType == "offer") return JsonDocument.Parse(e.Data).RootElement;
            }
        }
        await _client.PostAsync("/campaigns/o/agents/a1/login", null, cts.Token);
        var made = await NextOffer();
        Assert.Equal(("o", "offered", "a1", 1L), (made.GetProperty("campaign").GetString(), made.GetProperty("change").GetString(), made.GetProperty("agent").GetString(), made.GetProperty("lead_id").GetInt64()));
        Assert.Equal("**********8001", made.GetProperty("offer").GetProperty("phone").GetString());
        Assert.DoesNotContain("13800138001", made.GetRawText()); // never the whole number
        var id = made.GetProperty("offer_id").GetInt64();

        await _client.PostAsync($"/campaigns/o/agents/a1/offer/{id}", JsonBody("{\"choice\": \"skip\", \"reason\": \"customer in hospital\"}"), cts.Token);
        var skipped = await NextOffer();
        Assert.Equal((id, "skipped", "customer in hospital"), (skipped.GetProperty("offer_id").GetInt64(), skipped.GetProperty("change").GetString(), skipped.GetProperty("reason").GetString()));
        Assert.Equal(JsonValueKind.Null, skipped.GetProperty("offer").ValueKind);
        var next = await NextOffer(); // the next lead, at once
        Assert.Equal(("offered", 2L), (next.GetProperty("change").GetString(), next.GetProperty("lead_id").GetInt64()));
        await _client.PostAsync("/campaigns/o/agents/a1/pause", JsonBody("{\"reason\": \"break\"}"), cts.Token);
        var withdrawn = await NextOffer();
        Assert.Equal((next.GetProperty("offer_id").GetInt64(), "withdrawn", "agent paused"),
            (withdrawn.GetProperty("offer_id").GetInt64(), withdrawn.GetProperty("change").GetString(), withdrawn.GetProperty("reason").GetString()));
        await events.DisposeAsync();
        response.Dispose();
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Survey_answers_are_stored_per_attempt_and_reported_per_question_and_the_opt_out_key_blocks_the_number()
    {
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"s\"}"));
        await _client.PostAsync("/campaigns/s/leads", new StringContent("phone,region,timezone\n+8613800138001,CN,Asia/Shanghai\n+8613800138002,CN,Asia/Shanghai\n+8613800138003,CN,Asia/Shanghai\n", Encoding.UTF8, "text/csv"));
        var db = _app.Services.GetRequiredService<StoreDb>();
        long campaign;
        using (var c = db.Connect()) campaign = c.ExecuteScalar<long>("SELECT id FROM campaigns WHERE name = 's'");
        var log = new DbAttemptLog(db, campaign, "node-1") { RefusalBlockDays = 200 };
        var script = new CallScript
        {
            Name = "claim", Start = "q1", OptOutKey = '9', OptOutPrompt = new("sound:optout", 2),
            Steps = new Dictionary<string, ScriptStep>
            {
                ["q1"] = new() { Id = "q1", Kind = StepKind.Ask, Prompts = [new("sound:q1", 4)], Retries = 0, OnFail = "q2", Keys = new Dictionary<char, string> { ['1'] = "q2", ['2'] = "q2" } },
                ["q2"] = new() { Id = "q2", Kind = StepKind.Ask, Prompts = [new("sound:q2", 4)], Keys = new Dictionary<char, string> { ['1'] = "bye", ['3'] = "bye" } },
                ["bye"] = new() { Id = "bye", Kind = StepKind.End, Prompts = [new("sound:bye", 2)] },
            },
        };
        var at = DateTime.UtcNow;
        // Lead 1 answers 1 then 3; lead 2 lets q1 time out and answers 1; lead 3 presses the opt-out key at q1.
        Func<ScriptRun, ScriptResult>[] callees =
        [
            r => { r.Start(); r.Key('1'); r.Key('3'); r.PromptDone(); return r.Result; },
            r => { r.Start(); r.PromptDone(); r.Timeout(r.Turn); r.Key('1'); r.PromptDone(); return r.Result; },
            r => { r.Start(); r.Key('9'); r.PromptDone(); return r.Result; },
        ];
        for (var i = 0; i < callees.Length; i++)
        {
            var lead = new Lead { Id = i + 1, Phone = $"+861380013800{i + 1}", Region = "CN", TimeZone = TimeZoneInfo.Utc, Attempts = 1 };
            var call = new Call { Id = 100 + i, Lead = lead, Attempt = 1, Trunk = 0, TrunkName = "t", PlacedAt = at, PLive = 0.5f };
            log.Placed(call);
            call.AnsweredAt = at.AddSeconds(5);
            call.EndedAt = at.AddSeconds(30);
            call.Outcome = CallOutcome.Human;
            call.Script = callees[i](new ScriptRun(script, transferOffered: false, machine: false));
            log.Finished(call);
            log.Finished(call); // written again (a batch retried after a failure): still one answer per question
        }

        var report = await (await _client.GetAsync("/reports/survey?campaign=s")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(3, report.GetProperty("attempts").GetInt32());
        Assert.Equal(2, report.GetProperty("ends").GetProperty("completed").GetInt32());
        Assert.Equal(1, report.GetProperty("ends").GetProperty("opt_out").GetInt32());
        var q = report.GetProperty("rows").EnumerateArray().ToDictionary(x => x.GetProperty("key").GetString()!);
        Assert.Equal((2, 1, 1), (q["q1"].GetProperty("asked").GetInt32(), q["q1"].GetProperty("answered").GetInt32(), q["q1"].GetProperty("no_input").GetInt32()));
        Assert.Equal("{\"1\":1}", q["q1"].GetProperty("answers").GetRawText());
        Assert.Equal("{\"1\":1,\"3\":1}", q["q2"].GetProperty("answers").GetRawText());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/reports/survey?campaign=nope")).StatusCode);
        // Placed before the period asked: no answers, no ends.
        var later = Uri.EscapeDataString(at.AddMinutes(1).ToString("O"));
        Assert.Equal(0, (await (await _client.GetAsync($"/reports/survey?campaign=s&from={later}")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rows").GetArrayLength());

        // `dialer report survey` is the same report: its CSV is the API's, byte for byte, one column per key.
        var csv = await _client.GetStringAsync("/reports/survey?campaign=s&format=csv");
        Assert.Equal("question,asked,answered,no_input,answer_1,answer_3\nq1,2,1,1,1,0\nq2,2,2,0,1,1\n", csv);
        var file = _file + ".survey.csv";
        var root = new System.CommandLine.RootCommand { ReportCommands.Create() };
        Assert.Equal(0, root.Parse(["report", "survey", "--campaign", "s", "--format", "csv", "--db", "sqlite:" + _file, "--out", file])
            .Invoke(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false }));
        Assert.Equal(csv, File.ReadAllText(file));
        File.Delete(file);
        var ends = await _client.GetStringAsync("/reports/survey?campaign=s&by=end&format=csv");
        Assert.StartsWith("end,attempts,share_rate,share_ci_low,share_ci_high\ncompleted,2,0.666667,", ends);

        using var conn = db.Connect();
        var blocks = conn.Query<(string Source, long Expires)>("SELECT source, expires_at FROM dnc").ToList();
        var block = Assert.Single(blocks); // the opt-out alone, on the refusal list for the campaign's refusal block
        Assert.Equal(Dnc.Refusal, block.Source);
        Assert.Equal(Time.Ms(at.AddSeconds(30).AddDays(200)), block.Expires);
        Assert.Equal(2, conn.ExecuteScalar<int>("SELECT state FROM leads WHERE id = 3"));
    }
}
