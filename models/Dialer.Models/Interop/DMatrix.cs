namespace Dialer.Models.Interop;

/// <summary>A dense XGBoost matrix; missing values are NaN, the same encoding the feature extractor writes.</summary>
internal sealed unsafe class DMatrix : IDisposable
{
    internal DMatrixHandle Handle { get; }
    public int Rows { get; }

    private DMatrix(DMatrixHandle handle, int rows) => (Handle, Rows) = (handle, rows);

    /// <summary>Copies a row-major block into a new matrix; <paramref name="labels"/> may be empty (prediction only).</summary>
    public static DMatrix FromDense(ReadOnlySpan<float> values, int columns, ReadOnlySpan<float> labels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (values.Length % columns != 0) throw new ArgumentException($"{values.Length} values is not a whole number of {columns}-column rows", nameof(values));
        int rows = values.Length / columns;
        if (labels.Length != 0 && labels.Length != rows) throw new ArgumentException($"{labels.Length} labels for {rows} rows", nameof(labels));
        XGBoostNative.EnsureLoaded();
        nint raw;
        fixed (float* data = values)
        {
            XGBoostNative.Check(XGBoostNative.XGDMatrixCreateFromMat(data, (ulong)rows, (ulong)columns, float.NaN, out raw));
        }
        var matrix = new DMatrix(new DMatrixHandle(raw), rows);
        if (labels.Length == 0) return matrix;
        try
        {
            fixed (float* label = labels)
            {
                XGBoostNative.Check(XGBoostNative.XGDMatrixSetFloatInfo(matrix.Handle, "label", label, (ulong)labels.Length));
            }
            return matrix;
        }
        catch
        {
            matrix.Dispose();
            throw;
        }
    }

    public void Dispose() => Handle.Dispose();
}
