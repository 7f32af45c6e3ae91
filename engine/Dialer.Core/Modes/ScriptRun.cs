namespace Dialer.Core.Modes;

public enum ScriptActionKind : byte
{
    /// <summary>Nothing to do (a key nobody listens for, a stale time-out).</summary>
    None,
    /// <summary>Play <see cref="ScriptAction.Prompt"/>; call <see cref="ScriptRun.PromptDone"/> when it has played.</summary>
    Play,
    /// <summary>Wait <see cref="ScriptAction.Seconds"/> for a key; then <see cref="ScriptRun.Timeout"/> with <see cref="ScriptAction.Turn"/>.</summary>
    Listen,
    /// <summary>The callee asked for an agent: the engine routes them (the call stays up).</summary>
    Transfer,
    /// <summary>The script is over: hang up.</summary>
    HangUp,
}

public readonly record struct ScriptAction(ScriptActionKind Kind, Prompt? Prompt, double Seconds, int Turn);

/// <summary>How a script ended, as the attempt records it.</summary>
public enum ScriptEnd : byte
{
    /// <summary>Still running (or the call ended before it started).</summary>
    None,
    Completed,
    /// <summary>The opt-out key: the number goes on the do-not-call list.</summary>
    OptOut,
    /// <summary>A question's retries ran out with no usable key.</summary>
    NoInput,
    /// <summary>The callee hung up mid-script.</summary>
    HungUp,
    /// <summary>Handed to an agent.</summary>
    Transfer,
    /// <summary>An answering machine got the message.</summary>
    MessageLeft,
}

public static class ScriptEnds
{
    /// <summary>The snake_case name attempts, reports and the API use.</summary>
    public static string ToName(this ScriptEnd end) => end switch
    {
        ScriptEnd.OptOut => "opt_out",
        ScriptEnd.NoInput => "no_input",
        ScriptEnd.HungUp => "hung_up",
        ScriptEnd.MessageLeft => "message_left",
        _ => end.ToString().ToLowerInvariant(),
    };
}

/// <summary>One question's answer: the key, or null when the retries ran out; <see cref="Tries"/> counts the askings it took.</summary>
public readonly record struct ScriptAnswer(string Question, char? Key, int Tries);

/// <summary>What a script run produced: stored with the attempt and reported per question.</summary>
public sealed class ScriptResult
{
    public List<ScriptAnswer> Answers { get; } = [];
    public ScriptEnd End { get; internal set; }
}

/// <summary>
/// One call's walk through a <see cref="CallScript"/>: a pure state machine the ARI driver and the simulator both
/// drive (prompt played, key pressed, time-out), so the survey behaves the same in capacity planning and production.
/// Keys barge in: a key during a question's prompt answers it (the driver stops the prompt).
/// </summary>
public sealed class ScriptRun(CallScript script, bool transferOffered, bool machine)
{
    private enum After : byte { Listen, Next, Transfer, HangUp }

    private ScriptStep _step = script.Steps[script.Start];
    private IReadOnlyList<Prompt> _playing = [];
    private int _index;
    private After _after;
    private string? _next;
    private ScriptEnd _endAs;
    private int _tries;
    private bool _listening;

    public ScriptResult Result { get; } = new();
    public bool Done => Result.End != ScriptEnd.None;
    /// <summary>Counts actions; a time-out is for the turn it was set in.</summary>
    public int Turn { get; private set; }
    public bool TransferOffered => transferOffered;
    /// <summary>The step the callee is at (what the survey report calls the question).</summary>
    public string StepId => _step.Id;

    public ScriptAction Start() => machine
        ? PlayThen(script.MachineMessage, After.HangUp, end: ScriptEnd.MessageLeft)
        : Enter(script.Start);

    /// <summary>The prompt given by the last <see cref="ScriptActionKind.Play"/> has played.</summary>
    public ScriptAction PromptDone() => Done || _listening ? default : Advance();

    public ScriptAction Key(char key)
    {
        if (Done || _after is After.HangUp or After.Transfer || machine) return default; // closing words: keys no longer count
        if (key == script.OptOutKey && _step.Kind is StepKind.Say or StepKind.Ask)
        {
            _listening = false;
            return PlayThen(script.OptOutPrompt is { } p ? [p] : [], After.HangUp, end: ScriptEnd.OptOut);
        }
        if (_step.Kind != StepKind.Ask) return default;
        _listening = false;
        if (!_step.Keys.TryGetValue(key, out var next)) return Retry(_step.BadInput);
        Result.Answers.Add(new(_step.Id, key, _tries + 1));
        return Enter(next);
    }

    public ScriptAction Timeout(int turn) => turn == Turn && _listening && !Done ? Retry(_step.NoInput) : default;

    /// <summary>The call ended (hang-up, network) before the script did.</summary>
    public void HungUp()
    {
        if (!Done) Result.End = ScriptEnd.HungUp;
    }

    private ScriptAction Enter(string id)
    {
        _step = script.Steps[id];
        _tries = 0;
        return _step.Kind switch
        {
            StepKind.Say => PlayThen(_step.Prompts, After.Next, next: _step.Next),
            StepKind.Ask => PlayThen(_step.Prompts, After.Listen),
            StepKind.Transfer when transferOffered => PlayThen(_step.Prompts, After.Transfer, end: ScriptEnd.Transfer),
            StepKind.Transfer => Enter(_step.Unavailable!),
            _ => PlayThen(_step.Prompts, After.HangUp, end: ScriptEnd.Completed),
        };
    }

    private ScriptAction Retry(Prompt? why)
    {
        _listening = false;
        if (++_tries <= _step.Retries)
        {
            List<Prompt> again = why is null ? [] : [why];
            again.AddRange(_step.Prompts);
            return PlayThen(again, After.Listen);
        }
        Result.Answers.Add(new(_step.Id, null, _tries));
        return _step.OnFail is { } fail ? Enter(fail) : PlayThen([], After.HangUp, end: ScriptEnd.NoInput);
    }

    private ScriptAction PlayThen(IReadOnlyList<Prompt> prompts, After after, string? next = null, ScriptEnd end = ScriptEnd.None)
    {
        _playing = prompts;
        _index = 0;
        _after = after;
        _next = next;
        _endAs = end;
        return Advance();
    }

    private ScriptAction Advance()
    {
        Turn++;
        if (_index < _playing.Count) return new(ScriptActionKind.Play, _playing[_index++], 0, Turn);
        switch (_after)
        {
            case After.Listen:
                _listening = true;
                return new(ScriptActionKind.Listen, null, _step.TimeoutSeconds, Turn);
            case After.Next:
                return Enter(_next!);
            default:
                Result.End = _endAs;
                return new(_after == After.Transfer ? ScriptActionKind.Transfer : ScriptActionKind.HangUp, null, 0, Turn);
        }
    }
}
