using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dapper;

namespace Dialer.Store;

/// <summary>
/// What a cipher text holds; with its row's keyed hash it is the associated data. A phone number's cipher text in leads
/// and in customer_phones is one value under one hash (the same number), so both use <see cref="Phone"/>.
/// </summary>
public enum PiiColumn { Phone = 1, IdNumber = 2 }

/// <summary>
/// Phone and ID numbers at rest: AES-256-GCM (random nonce, so equal numbers encrypt differently) plus an
/// HMAC-SHA256 of the normalised value, so lookups and de-duplication never need to decrypt.
/// <para>
/// Keys: the configured master key (<see cref="EnvVar"/>) only wraps the store's keys (table <c>pii_keys</c>): one
/// hash key, stable for the store's life (the DNC list holds hashes only, so they must survive a rotation), and the
/// data keys. A store's first use wraps the keys derived from that master key (the ones every store used before the
/// key ring, so older cipher texts and hashes stay valid). <see cref="Bind"/> is the key check: a master key that
/// unwraps none of the store's keys (wrong, or rotated away) is refused before anything is read or written.
/// </para>
/// <para>
/// Cipher text v2: <c>D1 02</c>, the data key's 4-byte id, nonce (12), tag (16), cipher text; the associated data
/// binds it to its header, its column and its row's keyed hash, so a cipher text copied to another row or column
/// does not decrypt. v1 (nonce, tag, cipher text under the derived key, no associated data) is still read, and
/// rewritten by <see cref="PiiRotation"/>.
/// </para>
/// </summary>
public sealed class Pii
{
    /// <summary>Base64 of the 32-byte master key.</summary>
    public const string EnvVar = "DIALER_PII_KEY";
    private const int NonceSize = 12, TagSize = 16, HeaderSize = 6;
    private const byte Magic = 0xD1, Version = 2;
    /// <summary>The id of the data key derived from the master key (the one v1 cipher texts use).</summary>
    internal const uint DerivedKeyId = 1;

    private readonly byte[] _master;
    // Creating a cipher or MAC context costs more than using it (~15 µs vs ~1 µs), and neither is thread-safe:
    // one of each per thread and key.
    private readonly ConcurrentDictionary<uint, ThreadLocal<AesGcm>> _data = new();
    private ThreadLocal<HMACSHA256> _mac;
    private uint _current = DerivedKeyId;
    // The current data key's id and cipher, swapped as one reference (never torn) and read by Encrypt without a dictionary lookup per value.
    private sealed record CurrentKey(uint Id, ThreadLocal<AesGcm> Cipher);
    private volatile CurrentKey _currentCipher;
    private StoreDb? _bound;

    public Pii(byte[] masterKey)
    {
        if (masterKey.Length != 32) throw new ArgumentException($"pii key: must be 32 bytes (base64 of 32 random bytes), got {masterKey.Length}");
        _master = masterKey;
        Fingerprint = HMACSHA256.HashData(masterKey, "dialer pii master key id"u8)[..8];
        AddDataKey(DerivedKeyId, DerivedDataKey);
        _currentCipher = new CurrentKey(DerivedKeyId, _data[DerivedKeyId]);
        _mac = NewMac(DerivedHashKey);
    }

    /// <summary>Which master key this is, without revealing it: the rows it wraps in pii_keys carry this.</summary>
    internal byte[] Fingerprint { get; }
    internal byte[] DerivedDataKey => HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, 32, info: "dialer pii aes-gcm"u8.ToArray());
    internal byte[] DerivedHashKey => HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, 32, info: "dialer pii hmac"u8.ToArray());
    private byte[] WrapKey => HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, 32, info: "dialer pii key wrap"u8.ToArray());

    /// <summary>The key from <paramref name="configured"/> (base64) or <see cref="EnvVar"/>; a missing key is an error, never a silent default.</summary>
    public static Pii FromConfig(string? configured, string envVar = EnvVar)
    {
        var b64 = configured ?? Environment.GetEnvironmentVariable(envVar);
        if (string.IsNullOrWhiteSpace(b64))
            throw new InvalidOperationException($"pii key: not configured; set {envVar} to base64 of 32 random bytes (e.g. `openssl rand -base64 32`)");
        try { return new Pii(Convert.FromBase64String(b64.Trim())); }
        catch (FormatException) { throw new InvalidOperationException($"pii key: {envVar} is not valid base64"); }
    }

    private static ThreadLocal<HMACSHA256> NewMac(byte[] key) => new(() => new HMACSHA256(key));
    private void AddDataKey(uint id, byte[] key) => _data[id] = new ThreadLocal<AesGcm>(() => new AesGcm(key, TagSize));

    /// <summary>
    /// The key check and key ring load, before this key touches <paramref name="db"/>'s personal data: the store's
    /// keys unwrapped with this master key, or, at the store's first use, this key's derived keys wrapped (after
    /// checking they open a cipher text already there, if any). Throws <see cref="InvalidOperationException"/> on a
    /// wrong or rotated key. Binding again reloads the ring (a rotation may have added a key); an instance serves
    /// the store it was bound to last (several stores set up with one master key share its keys).
    /// </summary>
    public Pii Bind(StoreDb db)
    {
        lock (_data)
        {
            using var c = db.Connect();
            var rows = c.Query<(long Id, byte[] Kek, byte[] Wrapped, long CreatedAt)>("SELECT id, kek, wrapped, created_at FROM pii_keys").ToList();
            if (rows.Count == 0) FirstUse(db, c);
            else
            {
                var mine = rows.Where(r => r.Kek.AsSpan().SequenceEqual(Fingerprint)).ToList();
                if (mine.Count == 0) throw WrongKey();
                var hash = mine.Where(r => r.Id == 0).Select(r => Unwrap(r.Wrapped, 0)).FirstOrDefault() ?? throw WrongKey();
                _mac = NewMac(hash);
                // The store's keys, the one with the derived key's id included: after a rotation that is the old master's.
                foreach (var r in mine.Where(r => r.Id != 0 && (_bound != db || !_data.ContainsKey((uint)r.Id)))) AddDataKey((uint)r.Id, Unwrap(r.Wrapped, (uint)r.Id));
                _current = (uint)mine.Where(r => r.Id != 0).MaxBy(r => (r.CreatedAt, r.Id)).Id;
                _currentCipher = new CurrentKey(_current, _data[_current]);
            }
            _bound = db;
            return this;
        }
    }

    private InvalidOperationException WrongKey() => new(
        $"pii key: {EnvVar} does not open this store's keys (key check failed): it is not the key the store was set up with, " +
        "or the key was rotated (`dialer pii rotate`) and the new one must be used; nothing was read or written");

    private void FirstUse(StoreDb db, System.Data.Common.DbConnection c)
    {
        // A store that holds cipher texts from before the key ring: the derived key must open one of them.
        var sample = c.QueryFirstOrDefault<(byte[] Enc, byte[] Hash)?>("SELECT phone_enc, phone_hash FROM leads LIMIT 1");
        if (sample is { } s)
            try { Decrypt(s.Enc, PiiColumn.Phone, s.Hash); }
            catch (CryptographicException) { throw WrongKey(); }
        db.Write((w, tx) =>
        {
            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var (id, key) in new[] { (0u, DerivedHashKey), (DerivedKeyId, DerivedDataKey) })
                w.Execute("INSERT INTO pii_keys (id, kek, wrapped, created_at) VALUES (@id, @kek, @wrapped, @at)",
                    new { id = (long)id, kek = Fingerprint, wrapped = Wrap(key, id), at }, tx);
            return 0;
        });
    }

    /// <summary>A store key wrapped under this master key (AES-GCM, bound to the key's id).</summary>
    internal byte[] Wrap(byte[] key, uint id)
    {
        var blob = new byte[NonceSize + TagSize + key.Length];
        RandomNumberGenerator.Fill(blob.AsSpan(0, NonceSize));
        using var aes = new AesGcm(WrapKey, TagSize);
        aes.Encrypt(blob.AsSpan(0, NonceSize), key, blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), KeyAad(id));
        return blob;
    }

    private byte[] Unwrap(byte[] blob, uint id)
    {
        var key = new byte[blob.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(WrapKey, TagSize);
            aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), key, KeyAad(id));
        }
        catch (CryptographicException) { throw WrongKey(); }
        return key;
    }

    private static byte[] KeyAad(uint id) => Encoding.ASCII.GetBytes($"dialer pii key {id}");

    /// <summary>The keys this instance holds, for a rotation to wrap under the new master key: the hash key and each data key.</summary>
    internal (byte[] Hash, IReadOnlyList<(uint Id, byte[] Key)> Data) Export(StoreDb db)
    {
        using var c = db.Connect();
        var mine = c.Query<(long Id, byte[] Kek, byte[] Wrapped)>("SELECT id, kek, wrapped FROM pii_keys").Where(r => r.Kek.AsSpan().SequenceEqual(Fingerprint)).ToList();
        if (mine.Count == 0) throw WrongKey();
        return (Unwrap(mine.Single(r => r.Id == 0).Wrapped, 0), mine.Where(r => r.Id != 0).Select(r => ((uint)r.Id, Unwrap(r.Wrapped, (uint)r.Id))).ToList());
    }

    /// <summary>The data key new cipher texts use.</summary>
    internal uint CurrentKeyId => _current;

    // Phone and ID numbers are short: their UTF-8 goes on the stack (an import hashes and encrypts millions of them).
    private const int StackUtf8 = 256;

    public byte[] Hash(string value)
    {
        Span<byte> utf8 = value.Length * 3 <= StackUtf8 ? stackalloc byte[StackUtf8] : new byte[Encoding.UTF8.GetMaxByteCount(value.Length)];
        var n = Encoding.UTF8.GetBytes(value, utf8);
        var hash = new byte[HMACSHA256.HashSizeInBytes];
        _mac.Value!.TryComputeHash(utf8[..n], hash, out _);
        return hash;
    }

    public byte[] Encrypt(string value, PiiColumn column, ReadOnlySpan<byte> rowHash)
    {
        Span<byte> utf8 = value.Length * 3 <= StackUtf8 ? stackalloc byte[StackUtf8] : new byte[Encoding.UTF8.GetMaxByteCount(value.Length)];
        var plain = utf8[..Encoding.UTF8.GetBytes(value, utf8)];
        var blob = new byte[HeaderSize + NonceSize + TagSize + plain.Length];
        var (id, cipher) = _currentCipher;
        blob[0] = Magic;
        blob[1] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(blob.AsSpan(2), id);
        var nonce = blob.AsSpan(HeaderSize, NonceSize);
        NextNonce(nonce);
        Span<byte> aad = stackalloc byte[HeaderSize + 1 + rowHash.Length];
        Aad(blob, column, rowHash, aad);
        cipher.Value!.Encrypt(nonce, plain, blob.AsSpan(HeaderSize + NonceSize + TagSize), blob.AsSpan(HeaderSize + NonceSize, TagSize), aad);
        return blob;
    }

    private static void Aad(byte[] blob, PiiColumn column, ReadOnlySpan<byte> rowHash, Span<byte> aad)
    {
        blob.AsSpan(0, HeaderSize).CopyTo(aad);
        aad[HeaderSize] = (byte)column;
        rowHash.CopyTo(aad[(HeaderSize + 1)..]);
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

    /// <summary>The key id of a v2 cipher text; null for v1.</summary>
    public static uint? KeyIdOf(byte[] blob) =>
        blob.Length > HeaderSize + NonceSize + TagSize && blob[0] == Magic && blob[1] == Version ? BinaryPrimitives.ReadUInt32BigEndian(blob.AsSpan(2)) : null;

    /// <summary>
    /// The clear value; throws <see cref="CryptographicException"/> when the blob is not this row's and column's (or
    /// its key is not in the ring). A key id this instance has not loaded reloads the ring once (a rotation under way).
    /// </summary>
    public string Decrypt(byte[] blob, PiiColumn column, ReadOnlySpan<byte> rowHash)
    {
        if (blob.Length < NonceSize + TagSize) throw new CryptographicException("pii: cipher text too short");
        if (KeyIdOf(blob) is { } id)
        {
            if (!_data.ContainsKey(id) && _bound is { } db) Bind(db);
            if (_data.TryGetValue(id, out var aes))
            {
                var plain = new byte[blob.Length - HeaderSize - NonceSize - TagSize];
                Span<byte> aad = stackalloc byte[HeaderSize + 1 + rowHash.Length];
                Aad(blob, column, rowHash, aad);
                try
                {
                    aes.Value!.Decrypt(blob.AsSpan(HeaderSize, NonceSize), blob.AsSpan(HeaderSize + NonceSize + TagSize), blob.AsSpan(HeaderSize + NonceSize, TagSize), plain, aad);
                    return Encoding.UTF8.GetString(plain);
                }
                catch (CryptographicException) { } // 1 in 65,536 v1 nonces start like a v2 header: try it as v1 before failing
            }
        }
        var v1 = new byte[blob.Length - NonceSize - TagSize];
        _data[DerivedKeyId].Value!.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), v1);
        return Encoding.UTF8.GetString(v1);
    }

    /// <summary>All but the last four characters hidden: <c>**************1234</c>.</summary>
    public static string Mask(string idNumber) =>
        idNumber.Length <= 4 ? new string('*', idNumber.Length) : new string('*', idNumber.Length - 4) + idNumber[^4..];
}
