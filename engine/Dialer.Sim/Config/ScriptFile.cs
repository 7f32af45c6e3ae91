using Dialer.Core.Modes;

namespace Dialer.Sim.Config;

/// <summary>
/// An agentless campaign's script in YAML (a file of its own, or inline under <c>campaign.script</c>):
/// <code>
/// name: claim-follow-up
/// start: hello
/// opt_out_key: "9"                       # at any question: on the refusal list, then opt_out_prompt, hang up
/// opt_out_prompt: {media: "sound:custom/optout", seconds: 3}
/// machine: leave_message                 # or hang_up (the default)
/// machine_message: [{media: "sound:custom/notice", seconds: 12}]
/// steps:
///   hello: {say: [{media: "sound:custom/hello", seconds: 4}], next: q1}
///   q1: {ask: [{media: "sound:custom/q1", seconds: 5}], keys: {"1": q2, "2": agent}, timeout_seconds: 6, retries: 2,
///        no_input: {media: "sound:custom/again"}, bad_input: {media: "sound:custom/bad"}, on_fail: bye}
///   agent: {transfer: [{media: "sound:custom/connecting"}], unavailable: bye}
///   bye: {end: [{media: "sound:custom/thanks", seconds: 3}]}
/// </code>
/// A prompt's <c>media</c> is an Asterisk media URI (sound files or TTS renderings the operator supplies);
/// <c>seconds</c> (default 3) is how long it plays in the simulator.
/// </summary>
public static class ScriptFile
{
    public static CallScript Load(string file) => Read(YamlSection.Load(file), Path.GetFileNameWithoutExtension(file));

    /// <summary>The script under <paramref name="key"/>: a file path (relative to the config) or the script itself, inline.</summary>
    public static CallScript? Optional(YamlSection parent, string key)
    {
        if (!parent.Has(key)) return null;
        if (parent.HasMap(key)) return Read(parent.Map(key), key);
        var path = parent.Str(key);
        var full = Path.IsPathRooted(path) ? path : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(parent.File)) ?? ".", path);
        return Load(full);
    }

    public static CallScript Read(YamlSection s, string fallbackName)
    {
        var stepsSection = s.Map("steps");
        var steps = new Dictionary<string, ScriptStep>(StringComparer.Ordinal);
        foreach (var id in stepsSection.Keys()) steps[id] = Step(stepsSection.Map(id), id);
        if (steps.Count == 0) throw s.Error("steps", null, "is required: at least one step");
        var machine = s.OptStr("machine") ?? "hang_up";
        var script = new CallScript
        {
            Name = s.OptStr("name") ?? fallbackName,
            Start = s.OptStr("start") ?? steps.Keys.First(),
            Steps = steps,
            OptOutKey = s.OptStr("opt_out_key") is { } k ? Key(s, "opt_out_key", k) : null,
            OptOutPrompt = OptPrompt(s, "opt_out_prompt"),
            Machine = machine switch
            {
                "hang_up" => MachineAction.HangUp,
                "leave_message" => MachineAction.LeaveMessage,
                _ => throw s.Error("machine", null, $"\"{machine}\" is not hang_up or leave_message"),
            },
            MachineMessage = Prompts(s, "machine_message"),
        };
        if (script.Problems() is [var first, ..])
        {
            // "steps.q1.keys.2: no step 'x'": placed on the line of that key.
            var colon = first.IndexOf(": ", StringComparison.Ordinal);
            var (path, what) = (first[..colon], first[(colon + 2)..]);
            var dot = path.IndexOf('.');
            throw dot < 0 ? s.Error(path, null, what) : s.ErrorAt(path[..dot], "$" + path[dot..], what);
        }
        s.Done();
        return script;
    }

    private static readonly string[] Kinds = ["say", "ask", "transfer", "end"];

    private static ScriptStep Step(YamlSection s, string id)
    {
        var kinds = Kinds.Where(s.Has).ToList();
        if (kinds.Count != 1) throw s.Error("say", null, "a step is exactly one of say, ask, transfer, end (with its prompts)");
        var kind = kinds[0];
        var keys = new Dictionary<char, string>();
        if (s.OptMap("keys") is { } km)
            foreach (var key in km.Keys()) keys[Key(km, key, key)] = km.Str(key);
        var step = new ScriptStep
        {
            Id = id,
            Kind = kind switch { "say" => StepKind.Say, "ask" => StepKind.Ask, "transfer" => StepKind.Transfer, _ => StepKind.End },
            Prompts = Prompts(s, kind),
            Next = s.OptStr("next"),
            Keys = keys,
            TimeoutSeconds = s.OptNum("timeout_seconds", 6, 1, 60),
            Retries = s.Int("retries", 2, 0, 5),
            NoInput = OptPrompt(s, "no_input"),
            BadInput = OptPrompt(s, "bad_input"),
            OnFail = s.OptStr("on_fail"),
            Unavailable = s.OptStr("unavailable"),
        };
        s.OptMap("keys")?.Done();
        s.Done();
        return step;
    }

    private static char Key(YamlSection s, string key, string value) =>
        value.Length == 1 && CallScript.IsKey(value[0]) ? value[0] : throw s.Error(key, null, $"\"{value}\" is not a phone key (0-9, *, #)");

    private static IReadOnlyList<Prompt> Prompts(YamlSection s, string key) => [.. s.List(key).Select(Prompt)];

    private static Prompt? OptPrompt(YamlSection s, string key) => s.OptMap(key) is { } p ? Prompt(p) : null;

    private static Prompt Prompt(YamlSection p)
    {
        var prompt = new Prompt(p.Str("media"), p.OptNum("seconds", 3, 0.1, 600));
        if (!prompt.Media.Contains(':')) throw p.Error("media", null, $"\"{prompt.Media}\" is not a media URI (e.g. \"sound:custom/renewal-q1\")");
        p.Done();
        return prompt;
    }
}
