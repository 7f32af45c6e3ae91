using System.Reflection;
using System.Runtime.InteropServices;

namespace Dialer.Models.Interop;

/// <summary>Raw XGBoost 1.7 C API (include/xgboost/c_api.h). Only the calls the trainer needs.</summary>
internal static unsafe partial class XGBoostNative
{
    private const string LibraryName = "xgboost";

    // Debian's libxgboost0 ships only the versioned name; the unversioned one comes with -dev.
    private static readonly string[] Candidates = ["libxgboost.so.0", "libxgboost.so", "xgboost"];

    private static readonly Lock Gate = new();
    private static nint s_library;

    /// <summary>Loads the native library once, or throws naming the package to install.</summary>
    internal static void EnsureLoaded()
    {
        if (Volatile.Read(ref s_library) != 0) return;
        lock (Gate)
        {
            if (s_library != 0) return;
            nint handle = LoadFirst(Candidates);
            NativeLibrary.SetDllImportResolver(typeof(XGBoostNative).Assembly, Resolve);
            Volatile.Write(ref s_library, handle);
        }
    }

    /// <summary>The first of <paramref name="names"/> that loads, or an error naming the package to install.</summary>
    internal static nint LoadFirst(IReadOnlyList<string> names)
    {
        foreach (var name in names)
        {
            if (NativeLibrary.TryLoad(name, typeof(XGBoostNative).Assembly, DllImportSearchPath.SafeDirectories, out nint handle)) return handle;
        }
        throw new XGBoostException(
            $"XGBoost native library not found (looked for {string.Join(", ", names)}); " +
            "install the Debian package libxgboost0: apt-get install -y libxgboost0");
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == LibraryName ? s_library : 0;

    /// <summary>Turns a non-zero return code into an exception carrying XGBGetLastError().</summary>
    internal static void Check(int rc)
    {
        if (rc != 0) throw new XGBoostException(Marshal.PtrToStringUTF8(XGBGetLastError()) ?? $"XGBoost call failed with code {rc}");
    }

    [LibraryImport(LibraryName)]
    internal static partial nint XGBGetLastError();

    [LibraryImport(LibraryName)]
    internal static partial void XGBoostVersion(out int major, out int minor, out int patch);

    [LibraryImport(LibraryName)]
    internal static partial int XGDMatrixCreateFromMat(float* data, ulong rows, ulong columns, float missing, out nint handle);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int XGDMatrixSetFloatInfo(DMatrixHandle handle, string field, float* values, ulong length);

    [LibraryImport(LibraryName)]
    internal static partial int XGDMatrixFree(nint handle);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterCreate(nint* matrices, ulong length, out nint handle);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterFree(nint handle);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int XGBoosterSetParam(BoosterHandle handle, string name, string value);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterSetStrFeatureInfo(BoosterHandle handle, byte* field, byte** values, ulong length);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterUpdateOneIter(BoosterHandle handle, int iteration, DMatrixHandle train);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterEvalOneIter(BoosterHandle handle, int iteration, nint* matrices, byte** names, ulong length, out nint result);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int XGBoosterPredictFromDMatrix(BoosterHandle handle, DMatrixHandle matrix, string config, out ulong* shape, out ulong dimensions, out float* result);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int XGBoosterSaveModelToBuffer(BoosterHandle handle, string config, out ulong length, out byte* data);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterLoadModelFromBuffer(BoosterHandle handle, byte* data, ulong length);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterSlice(BoosterHandle handle, int begin, int end, int step, out nint sliced);

    [LibraryImport(LibraryName)]
    internal static partial int XGBoosterBoostedRounds(BoosterHandle handle, out int rounds);
}

/// <summary>Owns a DMatrixHandle; freed exactly once.</summary>
internal sealed class DMatrixHandle : SafeHandle
{
    public DMatrixHandle() : base(0, ownsHandle: true) { }
    internal DMatrixHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => XGBoostNative.XGDMatrixFree(handle) == 0;
}

/// <summary>Owns a BoosterHandle; freed exactly once.</summary>
internal sealed class BoosterHandle : SafeHandle
{
    public BoosterHandle() : base(0, ownsHandle: true) { }
    internal BoosterHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => XGBoostNative.XGBoosterFree(handle) == 0;
}
