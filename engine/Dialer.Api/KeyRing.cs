using System.Security.Cryptography;
using System.Text;

namespace Dialer.Api;

/// <summary>A set of accepted keys, held as SHA-256 digests and compared in constant time: the response time says nothing about how close a guess was.</summary>
internal sealed class KeyRing(IEnumerable<string> keys)
{
    private readonly byte[][] _accepted = [.. keys.Select(Digest)];

    public bool Accepts(string given)
    {
        var hash = Digest(given);
        var ok = false;
        foreach (var a in _accepted) ok |= CryptographicOperations.FixedTimeEquals(a, hash);
        return ok;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
