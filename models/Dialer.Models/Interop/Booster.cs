using System.Globalization;
using System.Runtime.InteropServices;

namespace Dialer.Models.Interop;

/// <summary>A safe wrapper over an XGBoost booster: every call checked, every number formatted invariantly.</summary>
internal sealed unsafe class Booster : IDisposable
{
    // Native prediction of plain probabilities over all trees, never the training-mode (dropout) path.
    private const string PredictConfig = """{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}""";

    private readonly BoosterHandle _handle;

    private Booster(BoosterHandle handle) => _handle = handle;

    /// <summary>A booster that caches the given matrices (the training and evaluation sets).</summary>
    public static Booster Create(params ReadOnlySpan<DMatrix> cache)
    {
        XGBoostNative.EnsureLoaded();
        var refs = new bool[cache.Length];
        var raw = stackalloc nint[Math.Max(cache.Length, 1)];
        try
        {
            for (int i = 0; i < cache.Length; i++)
            {
                cache[i].Handle.DangerousAddRef(ref refs[i]);
                raw[i] = cache[i].Handle.DangerousGetHandle();
            }
            XGBoostNative.Check(XGBoostNative.XGBoosterCreate(raw, (ulong)cache.Length, out nint handle));
            return new Booster(new BoosterHandle(handle));
        }
        finally
        {
            for (int i = 0; i < cache.Length; i++)
            {
                if (refs[i]) cache[i].Handle.DangerousRelease();
            }
        }
    }

    /// <summary>Loads a model saved by <see cref="SaveJson"/>.</summary>
    public static Booster LoadJson(ReadOnlySpan<byte> json)
    {
        var booster = Create();
        try
        {
            fixed (byte* data = json)
            {
                XGBoostNative.Check(XGBoostNative.XGBoosterLoadModelFromBuffer(booster._handle, data, (ulong)json.Length));
            }
            return booster;
        }
        catch
        {
            booster.Dispose();
            throw;
        }
    }

    public void SetParam(string name, string value) => XGBoostNative.Check(XGBoostNative.XGBoosterSetParam(_handle, name, value));

    public void SetParam(string name, double value) => SetParam(name, value.ToString("R", CultureInfo.InvariantCulture));

    public void SetParam(string name, int value) => SetParam(name, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Stores the feature names in the model, so a model can be checked against its schema.</summary>
    public void SetFeatureNames(IReadOnlyList<string> names)
    {
        var utf8 = new nint[names.Count];
        try
        {
            for (int i = 0; i < utf8.Length; i++) utf8[i] = Marshal.StringToCoTaskMemUTF8(names[i]);
            fixed (nint* values = utf8)
            fixed (byte* field = "feature_name"u8)
            {
                XGBoostNative.Check(XGBoostNative.XGBoosterSetStrFeatureInfo(_handle, field, (byte**)values, (ulong)utf8.Length));
            }
        }
        finally
        {
            foreach (var p in utf8) Marshal.FreeCoTaskMem(p);
        }
    }

    public void UpdateOneIter(int iteration, DMatrix train) =>
        XGBoostNative.Check(XGBoostNative.XGBoosterUpdateOneIter(_handle, iteration, train.Handle));

    /// <summary>Evaluates one matrix and returns the value of <paramref name="metric"/> (e.g. "logloss").</summary>
    public double Evaluate(int iteration, DMatrix matrix, string metric)
    {
        bool added = false;
        matrix.Handle.DangerousAddRef(ref added);
        try
        {
            nint raw = matrix.Handle.DangerousGetHandle();
            fixed (byte* name = "eval\0"u8)
            {
                byte* names = name;
                XGBoostNative.Check(XGBoostNative.XGBoosterEvalOneIter(_handle, iteration, &raw, &names, 1, out nint result));
                return ParseMetric(Marshal.PtrToStringUTF8(result) ?? "", metric);
            }
        }
        finally
        {
            if (added) matrix.Handle.DangerousRelease();
        }
    }

    /// <summary>Reads "eval-METRIC:VALUE" out of XGBoost's "[i]\teval-logloss:0.5" evaluation line.</summary>
    internal static double ParseMetric(string line, string metric)
    {
        string key = "eval-" + metric + ":";
        int at = line.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) throw new XGBoostException($"XGBoost evaluation '{line}' has no {metric}");
        var rest = line.AsSpan(at + key.Length);
        int end = rest.IndexOfAny('\t', ' ');
        return double.Parse(end < 0 ? rest : rest[..end], NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>Native probabilities for every row; the booster owns its result buffer, so it is copied out.</summary>
    public float[] Predict(DMatrix matrix)
    {
        XGBoostNative.Check(XGBoostNative.XGBoosterPredictFromDMatrix(_handle, matrix.Handle, PredictConfig, out _, out _, out float* result));
        return new ReadOnlySpan<float>(result, matrix.Rows).ToArray();
    }

    /// <summary>The first <paramref name="rounds"/> boosting rounds as a new booster (early stopping's best model).</summary>
    public Booster Slice(int rounds)
    {
        XGBoostNative.Check(XGBoostNative.XGBoosterSlice(_handle, 0, rounds, 1, out nint sliced));
        return new Booster(new BoosterHandle(sliced));
    }

    public int BoostedRounds
    {
        get
        {
            XGBoostNative.Check(XGBoostNative.XGBoosterBoostedRounds(_handle, out int rounds));
            return rounds;
        }
    }

    /// <summary>The model in XGBoost's JSON format (the one the managed evaluator reads).</summary>
    public byte[] SaveJson()
    {
        XGBoostNative.Check(XGBoostNative.XGBoosterSaveModelToBuffer(_handle, """{"format": "json"}""", out ulong length, out byte* data));
        return new ReadOnlySpan<byte>(data, checked((int)length)).ToArray();
    }

    public static string Version
    {
        get
        {
            XGBoostNative.EnsureLoaded();
            XGBoostNative.XGBoostVersion(out int major, out int minor, out int patch);
            return string.Create(CultureInfo.InvariantCulture, $"{major}.{minor}.{patch}");
        }
    }

    public void Dispose() => _handle.Dispose();
}
