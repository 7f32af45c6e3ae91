using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dialer.Api;
using Microsoft.AspNetCore.TestHost;

namespace Dialer.Store.Tests;

/// <summary>/metrics: who may read it, and what it shows of an engine attached here.</summary>
public sealed partial class ApiTests
{
    [Fact]
    public async Task Metrics_need_an_api_key_or_the_metrics_key_and_the_metrics_key_opens_nothing_else()
    {
        var anonymous = _app.GetTestClient();
        await Problem(await anonymous.GetAsync(DialerMetrics.Path), HttpStatusCode.Unauthorized);

        var ok = await _client.GetAsync(DialerMetrics.Path); // an API key
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("text/plain", ok.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, Exposition.Sum(await ok.Content.ReadAsStringAsync(), "dialer_event_clients"));

        var prometheus = _app.GetTestClient(); // how a Prometheus scrape config sends it (authorization: credentials)
        prometheus.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", MetricsKey);
        Assert.Equal(HttpStatusCode.OK, (await prometheus.GetAsync(DialerMetrics.Path)).StatusCode);
        await Problem(await prometheus.GetAsync("/campaigns"), HttpStatusCode.Unauthorized); // Bearer is for /metrics only
        var scraper = _app.GetTestClient();
        scraper.DefaultRequestHeaders.Add(DialerApi.KeyHeader, MetricsKey);
        Assert.Equal(HttpStatusCode.OK, (await scraper.GetAsync(DialerMetrics.Path)).StatusCode);
        await Problem(await scraper.GetAsync("/campaigns"), HttpStatusCode.Unauthorized);
        var wrong = _app.GetTestClient();
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong-key-0123456789abcdef");
        await Problem(await wrong.GetAsync(DialerMetrics.Path), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Metrics_read_the_attached_engine_as_stats_live_does_and_a_stalled_engine_shows_down()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var (_, loop) = await RunEngine("c", cts.Token);
        Assert.Equal(HttpStatusCode.Accepted, (await _client.PostAsync("/campaigns/c/agents/a1/login", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await _client.PostAsync("/campaigns/c/agents/a1/ready", null)).StatusCode);

        var text = await _client.GetStringAsync(DialerMetrics.Path);
        var live = (await _client.GetFromJsonAsync<JsonElement>("/stats/live")).GetProperty("campaigns").GetProperty("c");
        (string, string) c = ("campaign", "c");
        Assert.Equal(1, Exposition.Sum(text, "dialer_engine_up", c));
        Assert.Equal(live.GetProperty("agents_ready").GetInt32(), Exposition.Sum(text, "dialer_agents", c, ("state", "ready")));
        Assert.Equal(1, Exposition.Sum(text, "dialer_agents", c, ("state", "ready")));
        Assert.Equal(0, Exposition.Sum(text, "dialer_agents", c, ("state", "logged_out")));
        Assert.Equal(live.GetProperty("calls_placed").GetInt64(), Exposition.Sum(text, "dialer_calls_placed_total", c, ("trunk", "t")));
        Assert.Equal(1, Exposition.Sum(text, "dialer_trunk_channels", c, ("trunk", "t")));
        Assert.Equal(1, Exposition.Sum(text, "dialer_trunk_available", c, ("trunk", "t")));
        Assert.Equal(0.03, Exposition.Sum(text, "dialer_abandon_cap", c));
        Assert.Equal(0, Exposition.Sum(text, "dialer_answer_to_agent_seconds_count", c));

        // A loop that no longer answers: the scrape still returns, saying so, with the last values kept.
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10)); // cancelled, the loop returns
        var stalled = await _client.GetStringAsync(DialerMetrics.Path);
        Assert.Equal(0, Exposition.Sum(stalled, "dialer_engine_up", c));
        Assert.Equal(1, Exposition.Sum(stalled, "dialer_agents", c, ("state", "ready")));
    }
}
