using System.Net;
using System.Text.Json;

namespace Dialer.Api.Tests;

/// <summary>Webhook delivery: the events a webhook takes, signed, retried on 5xx, given up at once on a 4xx, alerts only when their rule notifies.</summary>
public sealed class WebhookTests
{
    private const string Secret = "webhook-secret-0123456789";

    private static async Task Until(Func<bool> done, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!done())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_delivery_that_fails_with_503_is_retried_until_it_arrives_once_signed_and_in_order()
    {
        var hub = new EventHub(DialerApi.Json, firstId: 100);
        var receiver = new Receiver(HttpStatusCode.ServiceUnavailable, HttpStatusCode.ServiceUnavailable);
        var target = new WebhookTarget(new Uri("http://127.0.0.1:9/hook"), Secret, new HashSet<string> { "call" });
        await using var hooks = new Webhooks([target], hub, handler: receiver);
        hub.Publish("call", new { call_id = 1, phase = "placed" });
        hub.Publish("agent", new { agent = "a1", state = "ready" }); // not a type this webhook takes
        hub.Publish("call", new { call_id = 1, phase = "ended" });
        await Until(() => hooks.Delivered == 2, "both calls delivered"); // after 1 s and 2 s of back-off
        Assert.Equal(2, hooks.Retries);
        Assert.Equal(0, hooks.Failed);
        var got = receiver.Got.ToArray();
        Assert.Equal(["100", "102"], got.Select(g => g.Id)); // the stream's ids, in order; the agent event (101) not sent
        Assert.All(got, g => Assert.Equal("call", g.Event));
        Assert.Equal("placed", JsonDocument.Parse(got[0].Body).RootElement.GetProperty("phase").GetString());
        foreach (var g in got) Assert.Equal("sha256=" + Webhooks.Sign(Secret, g.Timestamp!, g.Body), g.Signature);
        Assert.NotEqual("sha256=" + Webhooks.Sign("another-secret-0123456789", got[0].Timestamp!, got[0].Body), got[0].Signature);
    }

    [Fact]
    public async Task A_4xx_is_given_up_at_once_and_an_alert_goes_out_only_when_its_rule_says_notify()
    {
        var hub = new EventHub(DialerApi.Json);
        var receiver = new Receiver(HttpStatusCode.BadRequest);
        await using var hooks = new Webhooks([new WebhookTarget(new Uri("http://127.0.0.1:9/hook"), null, new HashSet<string> { "alert" })], hub, handler: receiver);
        AlertEvent Alert(bool notify) => new("renewals", "abandon_near_cap", null, "raised", "warning", "m", [], DateTimeOffset.UnixEpoch, notify);
        hub.Publish("alert", Alert(notify: true)); // refused with 400: not sent again
        hub.Publish("alert", Alert(notify: false)); // the rule does not notify
        hub.Publish("alert", Alert(notify: true));
        await Until(() => hooks.Delivered + hooks.Failed == 2, "both notifying alerts handled");
        Assert.Equal(1, hooks.Failed);
        Assert.Equal(1, hooks.Delivered);
        Assert.Equal(0, hooks.Retries);
        Assert.Equal(2, receiver.Calls);
        Assert.Null(receiver.Got.Single().Signature); // no secret, no signature
    }

    [Fact]
    public async Task A_webhook_that_names_kinds_gets_only_those_and_a_kind_no_event_has_is_refused()
    {
        var hub = new EventHub(DialerApi.Json);
        var receiver = new Receiver();
        await using var hooks = new Webhooks([new WebhookTarget(new Uri("http://127.0.0.1:9/hook"), null, new HashSet<string> { "call.bridged", "agent.paused", "campaign" })], hub, handler: receiver);
        hub.Publish("call", new { call_id = 1, phase = "placed" }, "placed");
        hub.Publish("call", new { call_id = 1, phase = "bridged", agent = "a1" }, "bridged");
        hub.Publish("agent", new { agent = "a1", state = "talking" }, "talking");
        hub.Publish("agent", new { agent = "a2", state = "paused", reason = "lunch" }, "paused");
        hub.Publish("campaign", new { campaign = "renewals", status = "running" });
        await Until(() => hooks.Delivered == 3, "the bridged call, the pause and the campaign");
        Assert.Equal(["call", "agent", "campaign"], receiver.Got.Select(g => g.Event));
        Assert.Null(WebhookTarget.Unknown("alert.raised"));
        Assert.Contains("ringing", WebhookTarget.Unknown("call.rung"));
        Assert.Contains("no kinds", WebhookTarget.Unknown("campaign.running"));
        Assert.NotNull(WebhookTarget.Unknown("stats"));
    }
}
