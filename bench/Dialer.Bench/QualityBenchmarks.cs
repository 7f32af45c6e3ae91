using BenchmarkDotNet.Attributes;
using Dialer.Api;
using Dialer.Core.Quality;
using Dialer.Tests.Quality;

namespace Dialer.Bench;

/// <summary>
/// Issue 15's QA figure: transcripts of 5 minutes checked per second on one core, against the shipped renewal rule set
/// (7 rules, 97 phrases and 26 patterns, both languages). The transcripts come from the tests' generator (the same
/// source file), 64 per language, each ~300 s of talk (the set-up prints
/// the mean segments and characters): 1 / Mean is transcripts per second.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*Quality*' --job short
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class QualityBenchmarks
{
    private const int Count = 64;
    private QaChecker _checker = null!;
    private Transcript[] _transcripts = null!;
    private QaFinding[] _findings = null!;

    [Params("zh", "en")]
    public string Language { get; set; } = "zh";

    [GlobalSetup]
    public void Setup()
    {
        _checker = new QaChecker(QualityRuleFile.Shipped);
        _findings = new QaFinding[_checker.Rules.Rules.Count];
        _transcripts = [.. TranscriptGenerator.Generate(4 * Count, seed: 20261201)
            .Where(t => t.Language == Language && t.Transcript.Length >= 290).Take(Count).Select(t => t.Transcript)];
        if (_transcripts.Length < Count) throw new InvalidOperationException($"only {_transcripts.Length} full-length {Language} transcripts");
        foreach (var t in _transcripts) _checker.Check(t, _findings); // buffers grown and regex automata built before measuring
        Console.WriteLine($"// {Language}: {Count} transcripts, mean {_transcripts.Average(t => t.Length):F0} s, " +
            $"{_transcripts.Average(t => t.Segments.Count):F0} segments, {_transcripts.Average(t => t.Segments.Sum(s => s.Text.Length)):F0} characters");
    }

    /// <summary>One 5-minute transcript (the mean over 64 different ones).</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int CheckFiveMinuteTranscript()
    {
        var violations = 0;
        foreach (var t in _transcripts)
        {
            _checker.Check(t, _findings);
            foreach (ref readonly var f in _findings.AsSpan()) if (f.Outcome == QaOutcome.Violation) violations++;
        }
        return violations;
    }
}
