using Dialer.Sim;

namespace Dialer.Cli.Commands;

/// <summary>Finds a scenario by path, or by the name of a shipped one ("medium-team").</summary>
internal static class ScenarioFiles
{
    public static Scenario Load(string nameOrPath)
    {
        if (File.Exists(nameOrPath)) return Scenario.Load(nameOrPath);
        var shipped = Path.Combine(AppContext.BaseDirectory, "scenarios", Path.GetFileNameWithoutExtension(nameOrPath) + ".yaml");
        if (File.Exists(shipped)) return Scenario.Load(shipped);
        var names = Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "scenarios"), "*.yaml").Select(Path.GetFileNameWithoutExtension).Order();
        throw new FileNotFoundException($"scenario '{nameOrPath}' not found (a file path, or one of: {string.Join(", ", names)})");
    }
}
