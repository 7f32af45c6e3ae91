namespace Dialer.Sim;

/// <summary>
/// Common random numbers: every draw is a pure hash of (seed, entity, index, stream), so a lead's fate on
/// attempt k is the same whichever pacer placed it and whenever — comparisons are fair and low-noise.
/// </summary>
public static class Crn
{
    public static double Uniform(ulong seed, long entity, int index, int stream)
    {
        var h = Mix(seed ^ 0xD1B54A32D192ED03UL);
        h = Mix(h ^ (ulong)entity);
        h = Mix(h ^ ((ulong)(uint)index << 8) ^ (uint)stream);
        return ((h >> 11) + 0.5) * (1.0 / (1UL << 53)); // strictly inside (0, 1)
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // Streams: one per independent quantity of a draw.
    public const int Outcome = 0, Congestion = 1, Ring = 2, Talk = 3, Patience = 4, Busy = 5, Wrap = 6, Pause = 7, Voicemail = 8, BadNumber = 9, Preview = 10, PreviewTime = 11, Refuse = 12;
    /// <summary>Survey answers: three streams per asking, from here (askings past 70 reuse the last).</summary>
    public const int Survey = 32;
}
