using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Dialer.Api.Tests;

/// <summary>A test that needs a Chromium on the PATH (or in CHROMIUM): skipped, with the reason, when there is none.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Binary is null) Skip = "needs Chromium (apt-get install chromium; tests/run.sh installs it): none on the PATH or in CHROMIUM";
    }
}

/// <summary>
/// Headless Chromium driven over the DevTools protocol (a WebSocket to 127.0.0.1; no Selenium or Playwright): open a
/// page, evaluate JavaScript in it, take screenshots. One tab per instance; disposing kills the browser and its profile.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    public static readonly string? Binary = Find();
    private readonly Process _process;
    private readonly ClientWebSocket _ws = new();
    private readonly string _profile;
    private readonly SemaphoreSlim _send = new(1, 1);
    private int _nextId;
    private string _session = "";

    private Chromium(Process process, string profile) { _process = process; _profile = profile; }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } given) return File.Exists(given) ? given : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome" })
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    public static async Task<Chromium> StartAsync(TimeSpan timeout)
    {
        var profile = Directory.CreateTempSubdirectory("dialer-chromium-").FullName;
        var psi = new ProcessStartInfo(Binary ?? throw new InvalidOperationException("no Chromium"))
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile}", "--window-size=1400,1400", "about:blank" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var browser = new Chromium(process, profile);
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            string? url = null;
            while (url is null && await process.StandardError.ReadLineAsync(cts.Token) is { } line)
                if (line.StartsWith("DevTools listening on ", StringComparison.Ordinal)) url = line["DevTools listening on ".Length..].Trim();
            if (url is null) throw new InvalidOperationException("Chromium exited before it opened its DevTools port");
            _ = process.StandardError.ReadToEndAsync(); // keep draining, or the browser blocks on a full pipe
            _ = process.StandardOutput.ReadToEndAsync();
            await browser._ws.ConnectAsync(new Uri(url), cts.Token);
            var target = await browser.Send("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, browserLevel: true);
            var attached = await browser.Send("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true }, browserLevel: true);
            browser._session = attached["sessionId"]!.GetValue<string>();
            await browser.Send("Page.enable", []);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    public async Task Navigate(string url)
    {
        await Send("Page.navigate", new JsonObject { ["url"] = url });
        await Until("document.readyState === 'complete' && location.href.startsWith(" + JsonSerializer.Serialize(url) + ")", TimeSpan.FromSeconds(10), "page loaded");
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page (awaiting a promise) and returns its value as JSON; a thrown error fails the test.</summary>
    public async Task<JsonNode?> Eval(string expression)
    {
        var r = await Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (r["exceptionDetails"] is { } ex) throw new InvalidOperationException($"page script failed: {ex["exception"]?["description"] ?? ex["text"]}");
        return r["result"]?["value"];
    }

    /// <summary>Waits until <paramref name="condition"/> (JavaScript) is true in the page.</summary>
    public async Task Until(string condition, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await Eval($"!!({condition})") is JsonValue v && v.GetValue<bool>()) return;
            if (DateTime.UtcNow > until) throw new TimeoutException($"timed out waiting for {what} ({condition})");
            await Task.Delay(100);
        }
    }

    public async Task Screenshot(string file)
    {
        var r = await Send("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true });
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllBytesAsync(file, Convert.FromBase64String(r["data"]!.GetValue<string>()));
    }

    /// <summary>One DevTools command and its reply (events in between are skipped).</summary>
    private async Task<JsonObject> Send(string method, JsonObject parameters, bool browserLevel = false)
    {
        await _send.WaitAsync();
        try
        {
            var id = ++_nextId;
            var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
            if (!browserLevel) message["sessionId"] = _session;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _ws.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, cts.Token);
            var buffer = new byte[1 << 16];
            while (true)
            {
                using var text = new MemoryStream();
                WebSocketReceiveResult got;
                do
                {
                    got = await _ws.ReceiveAsync(buffer, cts.Token);
                    if (got.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException("Chromium closed the DevTools connection");
                    text.Write(buffer, 0, got.Count);
                } while (!got.EndOfMessage);
                var reply = JsonNode.Parse(text.ToArray())!.AsObject();
                if (reply["id"]?.GetValue<int>() != id) continue; // an event, or another command's reply
                if (reply["error"] is { } error) throw new InvalidOperationException($"{method}: {error["message"]}");
                return reply["result"]!.AsObject();
            }
        }
        finally { _send.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_ws.State == WebSocketState.Open) await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None); }
        catch (WebSocketException) { } // the browser went first
        _ws.Dispose();
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } // already gone
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } // a helper process may still hold a file for a moment
    }
}
