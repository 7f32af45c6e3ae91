using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;

namespace Dialer.Ari.Driver;

/// <summary>
/// Agentless scripts on Asterisk: prompts through POST /channels/{id}/play, answers from ChannelDtmfReceived, no-input
/// time-outs on the driver's clock. A key during a question's prompt barges in (the prompt is stopped). A prompt that
/// cannot be played ends the call (hung up; the script records it as hung up): a survey never leaves a callee in silence.
/// </summary>
public sealed partial class AriDriver
{
    public void RunScript(Call call, ScriptRun run)
    {
        // Already gone: its end is on the way, and the engine closes the attempt without answers.
        if (!_legs.TryGetValue(call.ChannelId, out var leg)) return;
        leg.Script = run;
        lock (run) Step(leg, run.Start());
    }

    /// <summary>Carries out one action of the script (called under the run's lock).</summary>
    private void Step(Leg leg, ScriptAction a)
    {
        switch (a.Kind)
        {
            case ScriptActionKind.Play:
                var id = $"{leg.Id}-p{a.Turn}";
                leg.Playback = id;
                Queue(leg, CallCommand.Hangup, (d, l, _, ct) => d.PlayPromptAsync(l, a.Prompt!.Media, id, ct));
                break;
            case ScriptActionKind.Listen:
                _ = ListenAsync(leg, a.Turn, TimeSpan.FromSeconds(a.Seconds));
                break;
            case ScriptActionKind.Transfer:
                leg.Playback = null;
                _ = PostScript(leg, leg.Script!.Result); // the call stays up: the engine connects it or sends it to safe harbor
                break;
            case ScriptActionKind.HangUp:
                leg.Playback = null;
                _ = PostScript(leg, leg.Script!.Result);
                Queue(leg, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
                break;
        }
    }

    private async Task PlayPromptAsync(Leg leg, string media, string playbackId, CancellationToken ct)
    {
        try { await leg.Server.PlayAsync(leg.Id, media, playbackId, ct); }
        catch (AriException e)
        {
            Log?.Invoke($"call {leg.Call.Id}: prompt {media} could not be played ({e.Message}): hanging up");
            await leg.Server.HangupAsync(leg.Id, ct: ct); // its end closes the script as hung up
        }
    }

    private async Task ListenAsync(Leg leg, int turn, TimeSpan wait)
    {
        try { await Task.Delay(wait, _time, _stop.Token); }
        catch (OperationCanceledException) { return; }
        if (leg.Script is not { } run || leg.Ended != 0) return;
        lock (run) Step(leg, run.Timeout(turn));
    }

    /// <summary>A prompt of ours finished (or was stopped): the script goes on. True when it was a script prompt.</summary>
    private bool OnPromptFinished(Leg leg, string playbackId)
    {
        if (leg.Script is not { } run || !playbackId.StartsWith(leg.Id + "-p", StringComparison.Ordinal)) return false; // e.g. safe harbor after a transfer
        lock (run)
        {
            if (playbackId != leg.Playback) return true; // stopped by a key, or an older one: already moved on
            leg.Playback = null;
            Step(leg, run.PromptDone());
        }
        return true;
    }

    private void OnScriptKey(Leg leg, string digit)
    {
        if (leg.Script is not { } run || digit.Length != 1) return;
        lock (run)
        {
            var a = run.Key(digit[0]);
            if (a.Kind == ScriptActionKind.None) return;
            if (leg.Playback is { } playing)
            {
                leg.Playback = null; // its PlaybackFinished must not advance the script again
                Queue(leg, CallCommand.Hangup, (_, l, _, ct) => l.Server.StopPlaybackAsync(playing, ct));
            }
            Step(leg, a);
        }
    }

    /// <summary>The call ended mid-script: the script is closed as hung up and reported before the call's end.</summary>
    private async ValueTask EndScriptAsync(Leg leg)
    {
        if (leg.Script is not { } run) return;
        lock (run)
        {
            if (run.Done) return;
            run.HungUp();
        }
        await PostScript(leg, run.Result);
    }

    private async Task PostScript(Leg leg, ScriptResult result)
    {
        if (Interlocked.Exchange(ref leg.ScriptPosted, 1) == 1) return;
        await _post(EngineEvent.ScriptOver(leg.Call.Id, result, _time.GetUtcNow().UtcDateTime));
    }
}
