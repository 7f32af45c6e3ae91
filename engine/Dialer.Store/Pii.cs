using System.Security.Cryptography;
using System.Text;

namespace Dialer.Store;

/// <summary>
/// Phone and ID numbers at rest: AES-256-GCM ciphertext (random nonce, so equal numbers encrypt differently)
/// plus an HMAC-SHA256 of the normalised value, so lookups and de-duplication never need to decrypt.
/// Both keys are derived from one 32-byte master key (HKDF), so one secret is configured.
/// </summary>
public sealed class Pii
{
    /// <summary>Base64 of the 32-byte master key.</summary>
    public const string EnvVar = "DIALER_PII_KEY";
    private const int NonceSize = 12, TagSize = 16;
    // Creating a cipher or MAC context costs more than using it (~15 µs vs ~1 µs), and neither is thread-safe:
    // one of each per thread.
    private readonly ThreadLocal<AesGcm> _aes;
    private readonly ThreadLocal<HMACSHA256> _mac;

    public Pii(byte[] masterKey)
    {
        if (masterKey.Length != 32) throw new ArgumentException($"pii key: must be 32 bytes (base64 of 32 random bytes), got {masterKey.Length}");
        var encKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, info: "dialer pii aes-gcm"u8.ToArray());
        var macKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, info: "dialer pii hmac"u8.ToArray());
        _aes = new ThreadLocal<AesGcm>(() => new AesGcm(encKey, TagSize));
        _mac = new ThreadLocal<HMACSHA256>(() => new HMACSHA256(macKey));
    }

    /// <summary>The key from <paramref name="configured"/> (base64) or <see cref="EnvVar"/>; a missing key is an error, never a silent default.</summary>
    public static Pii FromConfig(string? configured)
    {
        var b64 = configured ?? Environment.GetEnvironmentVariable(EnvVar);
        if (string.IsNullOrWhiteSpace(b64))
            throw new InvalidOperationException($"pii key: not configured; set {EnvVar} to base64 of 32 random bytes (e.g. `openssl rand -base64 32`)");
        try { return new Pii(Convert.FromBase64String(b64.Trim())); }
        catch (FormatException) { throw new InvalidOperationException($"pii key: {EnvVar} is not valid base64"); }
    }

    public byte[] Hash(string value) => _mac.Value!.ComputeHash(Encoding.UTF8.GetBytes(value));

    public byte[] Encrypt(string value)
    {
        var plain = Encoding.UTF8.GetBytes(value);
        var blob = new byte[NonceSize + TagSize + plain.Length];
        var nonce = blob.AsSpan(0, NonceSize);
        NextNonce(nonce);
        _aes.Value!.Encrypt(nonce, plain, blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize));
        return blob;
    }

    // A system call for every 12 random bytes cost more than the cipher: nonces are drawn from a per-thread
    // buffer of random bytes, refilled 4 KiB at a time. Each byte is used once, so nonces stay random and unique.
    [ThreadStatic] private static byte[]? t_random;
    [ThreadStatic] private static int t_used;

    private static void NextNonce(Span<byte> nonce)
    {
        if (t_random is null || t_used + nonce.Length > t_random.Length)
        {
            t_random ??= new byte[4096];
            RandomNumberGenerator.Fill(t_random);
            t_used = 0;
        }
        t_random.AsSpan(t_used, nonce.Length).CopyTo(nonce);
        t_used += nonce.Length;
    }

    public string Decrypt(byte[] blob)
    {
        if (blob.Length < NonceSize + TagSize) throw new CryptographicException("pii: ciphertext too short");
        var plain = new byte[blob.Length - NonceSize - TagSize];
        _aes.Value!.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), plain);
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>
    /// A value quoted for an error message only when it cannot be a phone or ID number and is short: at most 32
    /// characters and 4 digits (a date, a number or a long text is described instead; the message says the format).
    /// </summary>
    public static string Echo(string value)
    {
        var digits = 0;
        foreach (var ch in value) if (char.IsDigit(ch)) digits++;
        return value.Length <= 32 && digits <= 4 ? $"'{value}'" : $"the value ({value.Length} characters, not shown)";
    }

    /// <summary>All but the last four characters hidden: <c>**************1234</c>.</summary>
    public static string Mask(string idNumber) =>
        idNumber.Length <= 4 ? new string('*', idNumber.Length) : new string('*', idNumber.Length - 4) + idNumber[^4..];
}
