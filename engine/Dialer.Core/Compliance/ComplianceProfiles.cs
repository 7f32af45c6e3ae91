using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dialer.Core.Compliance;

/// <summary>
/// The shipped compliance profiles (<c>Compliance/profiles/*.json</c>, built into this assembly: cn-auto-renewal,
/// cn-life, us-tsr), by id: one set for the store's campaigns and the simulator's scenarios. A campaign names one in
/// <c>compliance_profile</c> or gives its own in <c>custom_profile</c>.
/// </summary>
public static class ComplianceProfiles
{
    private static readonly Lazy<IReadOnlyDictionary<string, ComplianceProfile>> Shipped = new(Load);
    /// <summary>The files' JSON: snake_case names, an unknown field is an error (the store's settings read profiles the same way).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static IReadOnlyList<string> Names => [.. Shipped.Value.Keys];

    public static ComplianceProfile? Get(string id) => Shipped.Value.GetValueOrDefault(id);

    private static IReadOnlyDictionary<string, ComplianceProfile> Load()
    {
        var asm = typeof(ComplianceProfiles).Assembly;
        var profiles = new SortedDictionary<string, ComplianceProfile>(StringComparer.Ordinal);
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("compliance-profiles/", StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            // A shipped file that does not read or validate is a bug of this build: say which file and field.
            var p = JsonSerializer.Deserialize<ComplianceProfile>(s, Json) ?? throw new InvalidOperationException($"{name}: empty");
            var errors = new Dictionary<string, string>();
            p.Validate("profile", errors);
            if (errors.Count > 0) throw new InvalidOperationException($"{name}: {string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value}"))}");
            profiles[p.Id] = p;
        }
        return profiles;
    }
}
