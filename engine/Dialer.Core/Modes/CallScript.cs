namespace Dialer.Core.Modes;

/// <summary>How a campaign reaches people. One campaign schema, one hopper order and one engine loop serve them all.</summary>
public enum DialingMode : byte
{
    /// <summary>The pacer places calls for agents (progressive, ratio, VICIdial, predictive); leads tagged <c>preview_tag</c> go to preview.</summary>
    Predictive,
    /// <summary>The agent sees the lead first and accepts, skips or asks for a callback; only an accepted lead is dialed, for that agent.</summary>
    Preview,
    /// <summary>Agentless: prompts, questions answered by key, answers stored per attempt.</summary>
    Survey,
    /// <summary>Agentless: a message (a machine gets it after its greeting, or a hang-up, per <see cref="CallScript.Machine"/>).</summary>
    Notice,
}

/// <summary>What an answering machine gets on an agentless campaign.</summary>
public enum MachineAction : byte { HangUp, LeaveMessage }

public enum StepKind : byte
{
    /// <summary>Play the prompts, then go on to <see cref="ScriptStep.Next"/>.</summary>
    Say,
    /// <summary>Play the prompts and take one key: the key's step next; no input or a key not allowed is retried.</summary>
    Ask,
    /// <summary>"Press 1 for an agent": play the prompts and hand the callee to agent routing (2 s, or abandoned); <see cref="ScriptStep.Unavailable"/> when no transfer is offered.</summary>
    Transfer,
    /// <summary>Play the prompts and hang up.</summary>
    End,
}

/// <summary>A sound the operator supplies (Asterisk media URI, e.g. <c>sound:custom/renewal-q1</c>) and how long it lasts (the simulator's clock).</summary>
public sealed record Prompt(string Media, double Seconds);

/// <summary>One step of a script.</summary>
public sealed class ScriptStep
{
    public required string Id { get; init; }
    public required StepKind Kind { get; init; }
    public IReadOnlyList<Prompt> Prompts { get; init; } = [];
    /// <summary>Say: the step after.</summary>
    public string? Next { get; init; }
    /// <summary>Ask: allowed keys → the step each leads to.</summary>
    public IReadOnlyDictionary<char, string> Keys { get; init; } = new Dictionary<char, string>();
    /// <summary>Ask: seconds to wait for a key once the prompts are over.</summary>
    public double TimeoutSeconds { get; init; } = 6;
    /// <summary>Ask: how many times the question is asked again after no input or a key not allowed.</summary>
    public int Retries { get; init; } = 2;
    public Prompt? NoInput { get; init; }
    public Prompt? BadInput { get; init; }
    /// <summary>Ask: the step after the last retry failed (null: the call ends, recorded as no input).</summary>
    public string? OnFail { get; init; }
    /// <summary>Transfer: the step when no transfer is offered (no agent logged in, or the abandon budget spent).</summary>
    public string? Unavailable { get; init; }
}

/// <summary>
/// An agentless campaign's call script (survey or notice), validated when loaded. Steps form a graph from
/// <see cref="Start"/>; <see cref="OptOutKey"/> works at any question and ends the call on the refusal list.
/// </summary>
public sealed class CallScript
{
    public required string Name { get; init; }
    public required string Start { get; init; }
    public required IReadOnlyDictionary<string, ScriptStep> Steps { get; init; }
    /// <summary>Pressed at any question: recorded as a refusal (the number goes on the do-not-call list), then <see cref="OptOutPrompt"/> and hang up.</summary>
    public char? OptOutKey { get; init; }
    public Prompt? OptOutPrompt { get; init; }
    public MachineAction Machine { get; init; } = MachineAction.HangUp;
    /// <summary>What a machine hears with <see cref="MachineAction.LeaveMessage"/>, after its greeting ends.</summary>
    public IReadOnlyList<Prompt> MachineMessage { get; init; } = [];

    /// <summary>Questions in script order (the survey report's rows).</summary>
    public IEnumerable<ScriptStep> Questions => Steps.Values.Where(s => s.Kind == StepKind.Ask);
    public bool HasTransfer => Steps.Values.Any(s => s.Kind == StepKind.Transfer);

    /// <summary>Every problem, each naming its step and field; empty when the script can run.</summary>
    public List<string> Problems()
    {
        var errors = new List<string>();
        void Target(string where, string? id)
        {
            if (id is not null && !Steps.ContainsKey(id)) errors.Add($"{where}: no step '{id}'");
        }
        if (!Steps.ContainsKey(Start)) errors.Add($"start: no step '{Start}'");
        foreach (var s in Steps.Values)
        {
            var at = $"steps.{s.Id}";
            switch (s.Kind)
            {
                case StepKind.Say:
                    if (s.Next is null) errors.Add($"{at}.next: a say step needs the step after it");
                    Target($"{at}.next", s.Next);
                    break;
                case StepKind.Ask:
                    if (s.Prompts.Count == 0) errors.Add($"{at}.prompts: a question needs a prompt");
                    if (s.Keys.Count == 0) errors.Add($"{at}.keys: a question needs its allowed keys");
                    foreach (var (key, next) in s.Keys)
                    {
                        if (!IsKey(key)) errors.Add($"{at}.keys: '{key}' is not a phone key (0-9, *, #)");
                        if (key == OptOutKey) errors.Add($"{at}.keys: '{key}' is the opt-out key");
                        Target($"{at}.keys.{key}", next);
                    }
                    if (s.TimeoutSeconds is < 1 or > 60) errors.Add($"{at}.timeout_seconds: must be within 1..60");
                    if (s.Retries is < 0 or > 5) errors.Add($"{at}.retries: must be within 0..5");
                    Target($"{at}.on_fail", s.OnFail);
                    break;
                case StepKind.Transfer:
                    if (s.Unavailable is null) errors.Add($"{at}.unavailable: a transfer needs the step for when no agent can be offered");
                    Target($"{at}.unavailable", s.Unavailable);
                    break;
            }
        }
        if (OptOutKey is { } k && !IsKey(k)) errors.Add($"opt_out_key: '{k}' is not a phone key (0-9, *, #)");
        if (Machine == MachineAction.LeaveMessage && MachineMessage.Count == 0) errors.Add("machine: leave_message needs the message to leave (machine_message)");
        if (errors.Count == 0 && !CanEnd()) errors.Add("steps: no path from start reaches an end step");
        return errors;
    }

    public static bool IsKey(char c) => c is >= '0' and <= '9' or '*' or '#';

    private bool CanEnd()
    {
        var seen = new HashSet<string>();
        var todo = new Stack<string>([Start]);
        while (todo.TryPop(out var id))
        {
            if (!seen.Add(id)) continue;
            var s = Steps[id];
            if (s.Kind is StepKind.End or StepKind.Transfer) return true;
            if (s.Next is { } n) todo.Push(n);
            if (s.OnFail is null && s.Kind == StepKind.Ask) return true; // a failed question ends the call
            if (s.OnFail is { } f) todo.Push(f);
            foreach (var next in s.Keys.Values) todo.Push(next);
        }
        return false;
    }
}
