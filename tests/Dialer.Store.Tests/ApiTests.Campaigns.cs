using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Dialer.Store.Tests;

/// <summary>Campaign names, settings updates and the bounds on what a campaign or leads request can make the API say.</summary>
public sealed partial class ApiTests
{
    [Fact]
    public async Task A_campaign_name_in_any_script_is_created_and_reachable_and_one_with_a_slash_is_refused()
    {
        var r = await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"续保 campaign\"}"));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        Assert.Equal("/campaigns/%E7%BB%AD%E4%BF%9D%20campaign", r.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(r.Headers.Location)).StatusCode);

        var p = await Problem(await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"a/b\"}")), HttpStatusCode.BadRequest);
        Assert.True(p.GetProperty("errors").TryGetProperty("name", out _));
        var all = await (await _client.GetAsync("/campaigns")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["续保 campaign"], all.EnumerateArray().Select(c => c.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Patch_changes_only_the_fields_it_gives_and_a_partial_put_is_refused()
    {
        var create = "{\"name\": \"c\", \"settings\": {\"time_zone\": \"Asia/Shanghai\", \"pacer\": \"predictive\", \"retry_delay_seconds\": {\"busy\": 60}}}";
        await _client.PostAsync("/campaigns", JsonBody(create));
        var patch = new HttpRequestMessage(HttpMethod.Patch, "/campaigns/c/settings")
        {
            Content = JsonBody("{\"max_attempts\": 4, \"retry_delay_seconds\": {\"no_answer\": 900}, \"tag_rules\": [{\"tag\": \"big\", \"premium_over\": 1}]}"),
        };
        var settings = (await (await _client.SendAsync(patch)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("settings");
        Assert.Equal(("Asia/Shanghai", "predictive", 4), (settings.GetProperty("time_zone").GetString(), settings.GetProperty("pacer").GetString(),
            settings.GetProperty("max_attempts").GetInt32()));
        Assert.Equal(["busy", "no_answer"], settings.GetProperty("retry_delay_seconds").EnumerateObject().Select(o => o.Name));
        Assert.Equal("big", settings.GetProperty("tag_rules")[0].GetProperty("tag").GetString());

        var put = await Problem(await _client.PutAsync("/campaigns/c/settings", JsonBody("{\"max_attempts\": 5}")), HttpStatusCode.BadRequest);
        Assert.Contains("PATCH", put.GetProperty("errors").EnumerateObject().First().Value[0].GetString());
        var stored = (await (await _client.GetAsync("/campaigns/c")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("settings");
        Assert.Equal(("Asia/Shanghai", 4), (stored.GetProperty("time_zone").GetString(), stored.GetProperty("max_attempts").GetInt32()));
    }

    [Fact]
    public async Task A_settings_body_with_half_a_million_unknown_keys_draws_a_short_reply()
    {
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"c\"}"));
        var body = new StringBuilder("{\"retry_delay_seconds\": {");
        for (var i = 0; i < 500_000; i++) body.Append(i == 0 ? "" : ",").Append("\"k").Append(i).Append("\": 1");
        body.Append("}}"); // ~6.5 MB
        var patch = new HttpRequestMessage(HttpMethod.Patch, "/campaigns/c/settings") { Content = JsonBody(body.ToString()) };
        var r = await _client.SendAsync(patch);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.True((await r.Content.ReadAsByteArrayAsync()).Length < 1000);
        // Under the size limit, many unknown outcomes are one error, not one per key.
        var small = new StringBuilder("{\"retry_delay_seconds\": {");
        for (var i = 0; i < 2000; i++) small.Append(i == 0 ? "" : ",").Append("\"k").Append(i).Append("\": 1");
        small.Append("}, \"k").Append(new string('x', 20_000)).Append("\": 1}");
        r = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Patch, "/campaigns/c/settings") { Content = JsonBody(small.ToString()) });
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.True((await r.Content.ReadAsByteArrayAsync()).Length < 1000);
    }
}
