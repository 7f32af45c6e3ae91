namespace Dialer.Tests;

/// <summary>A test that runs only when DIALER_LOAD=1 (a load run, minutes of both cores): skipped, with the reason, otherwise.</summary>
public sealed class LoadFactAttribute : FactAttribute
{
    public LoadFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DIALER_LOAD") != "1") Skip = "a load run: set DIALER_LOAD=1 (it takes both cores for a minute)";
    }
}
