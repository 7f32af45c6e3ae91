using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dialer.Api;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Modes;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Store.Tests;

/// <summary>Preview over the API: the agent's offer, number masked (the decision route's test is still to come).</summary>
public sealed partial class ApiTests
{
    private sealed class NoDesk : IPreviewDesk
    {
        public void Offer(PreviewOffer offer) { }
        public void Withdraw(PreviewOffer offer, string reason) { }
    }

    [Fact]
    public async Task An_agent_reads_the_masked_offer_over_the_api()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"p\"}"), cts.Token);
        var settings = new CampaignSettings();
        var config = new CampaignConfig { Name = "p", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, Mode = DialingMode.Preview };
        var now = DateTime.UtcNow;
        var lead = new Lead { Id = 7, Phone = "+8613800138000", Region = "CN-SH", TimeZone = TimeZoneInfo.Utc, Tags = ["high-value"] };
        var host = new EngineHost(new DialerEngine(new EngineSetup
        {
            Campaign = config,
            Agents = [new Agent { Index = 0, Id = "a1", Skills = SkillSet.From(new SkillCatalog(), []) }],
            Trunks = [new TrunkConfig { Name = "t", Channels = 1, CallsPerSecond = 1, RatePerMinute = new Dictionary<string, double> { ["+"] = 0.01 } }],
            Pacer = settings.CreatePacer(1), Control = new NoCalls(), Leads = new MemoryHopper(config, [lead], now), Predictor = new NoPrediction(), Desk = new NoDesk(),
        }, now), TimeProvider.System);
        _app.Services.GetRequiredService<EngineRegistry>().Attach("p", host);
        var loop = host.RunAsync(cts.Token);

        Assert.Equal(HttpStatusCode.NoContent, (await _client.GetAsync("/campaigns/p/agents/a1/offer", cts.Token)).StatusCode);
        await _client.PostAsync("/campaigns/p/agents/a1/login", null, cts.Token);
        var offer = await (await _client.GetAsync("/campaigns/p/agents/a1/offer", cts.Token)).Content.ReadFromJsonAsync<JsonElement>(cts.Token);
        Assert.Equal(("**********8000", 7), (offer.GetProperty("phone").GetString(), offer.GetProperty("lead_id").GetInt32()));
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
