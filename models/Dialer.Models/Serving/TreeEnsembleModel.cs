using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>
/// Managed evaluator of a saved XGBoost binary:logistic model. Sums run in float in tree order from
/// the base margin and end in the same sigmoid as XGBoost, which reproduces its predictions bit for bit.
/// <list type="bullet">
/// <item>Trees are flattened breadth-first with siblings adjacent and leaves pointing at themselves,
/// so a row walks a tree in exactly "depth" branch-free steps: nothing to mispredict.</item>
/// <item>Missing values cost nothing per node: a row is widened once into a copy with NaN as −∞ and a
/// copy with NaN as +∞; a node whose missing values go left reads the first (−∞ &lt; threshold), one
/// whose missing values go right reads the second, which is XGBoost's default_left rule.</item>
/// <item>Widened rows are stored in blocks of <see cref="Lanes"/>, feature-major, so the eight walks of
/// a block share one base address and run side by side; a batch goes tree by tree over its blocks,
/// keeping each tree in cache.</item>
/// </list>
/// </summary>
[SkipLocalsInit]
public sealed class TreeEnsembleModel : IAnswerRateModel
{
    private struct Node
    {
        public float Value;       // split: go left when x < Value; leaf: the leaf value
        public int Left;          // byte offset of the left child; the right child follows it
        public int FeatureOffset; // byte offset of the feature within a block's lane 0
        public int RightDelta;    // byte distance to the right child: one node on splits, 0 on leaves (which point at themselves)
    }

    private const int Lanes = 8;

    private static readonly int NodeSize = Unsafe.SizeOf<Node>();

    // Blocks widened per chunk of a batch, sized so the widened copy (on the stack) stays near 32 KB.
    private const int WidenedFloatsPerChunk = 8192;

    private readonly Node[] _nodes;
    private readonly int[] _roots; // byte offsets
    private readonly int[] _depths;
    private readonly float _baseMargin;

    public FeatureSchema Schema { get; }
    public bool IsFallback => false;
    public int TreeCount => _roots.Length;

    private TreeEnsembleModel(FeatureSchema schema, Node[] nodes, int[] roots, int[] depths, float baseMargin) =>
        (Schema, _nodes, _roots, _depths, _baseMargin) = (schema, nodes, roots, depths, baseMargin);

    /// <summary>Loads a published model directory, refusing a model whose schema or features don't match.</summary>
    public static TreeEnsembleModel Load(string directory)
    {
        string schemaPath = Path.Combine(directory, ModelFiles.Schema), modelPath = Path.Combine(directory, ModelFiles.Model);
        if (!File.Exists(schemaPath)) throw new FileNotFoundException($"{schemaPath}: no feature schema; a model directory holds {ModelFiles.Model} and {ModelFiles.Schema}", schemaPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: no model; a model directory holds {ModelFiles.Model} and {ModelFiles.Schema}", modelPath);
        var schema = FeatureSchema.FromJson(File.ReadAllText(schemaPath), schemaPath);
        return FromXGBoostJson(File.ReadAllBytes(modelPath), schema, modelPath);
    }

    /// <summary>Parses XGBoost's JSON model; its feature names must be exactly the schema's.</summary>
    public static TreeEnsembleModel FromXGBoostJson(ReadOnlySpan<byte> json, FeatureSchema schema, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not JSON: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return Parse(doc.RootElement, schema, source);
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{source}: not an XGBoost JSON model: {e.Message}", e);
            }
        }
    }

    private static TreeEnsembleModel Parse(JsonElement root, FeatureSchema schema, string source)
    {
        var learner = root.GetProperty("learner");
        string objective = learner.GetProperty("objective").GetProperty("name").GetString() ?? "";
        if (objective != "binary:logistic") throw new InvalidDataException($"{source}: objective is '{objective}', expected binary:logistic");
        var names = learner.TryGetProperty("feature_names", out var fn)
            ? fn.EnumerateArray().Select(e => e.GetString() ?? "").ToArray()
            : [];
        FeatureSchema.RequireSameFeatures(schema.FeatureNames, names, source);

        // base_score is a probability stored as a string; it enters the sum as log-odds, in float as XGBoost does.
        float baseScore = float.Parse(learner.GetProperty("learner_model_param").GetProperty("base_score").GetString() ?? "", CultureInfo.InvariantCulture);
        float baseMargin = -MathF.Log(1f / baseScore - 1f);

        var booster = learner.GetProperty("gradient_booster");
        string kind = booster.GetProperty("name").GetString() ?? "";
        if (kind != "gbtree") throw new InvalidDataException($"{source}: booster is '{kind}', only gbtree is supported");
        var nodes = new List<Node>();
        var roots = new List<int>();
        var depths = new List<int>();
        int t = 0;
        foreach (var tree in booster.GetProperty("model").GetProperty("trees").EnumerateArray())
        {
            roots.Add(checked(nodes.Count * NodeSize));
            depths.Add(AddTree(tree, nodes, schema.FeatureCount, $"{source}: tree {t++}"));
        }
        return new TreeEnsembleModel(schema, nodes.ToArray(), roots.ToArray(), depths.ToArray(), baseMargin);
    }

    /// <summary>Appends one tree breadth-first (siblings adjacent) and returns its depth.</summary>
    private static int AddTree(JsonElement tree, List<Node> nodes, int featureCount, string where)
    {
        int[] left = Ints(tree, "left_children"), right = Ints(tree, "right_children"), feature = Ints(tree, "split_indices");
        int[] defaultLeft = Ints(tree, "default_left");
        float[] value = tree.GetProperty("split_conditions").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        int n = left.Length, offset = nodes.Count;
        if (n == 0 || right.Length != n || feature.Length != n || defaultLeft.Length != n || value.Length != n)
        {
            throw new InvalidDataException($"{where}: node arrays are empty or of different lengths");
        }
        // order[k] is the XGBoost node placed at offset + k; level[k] its depth.
        var order = new List<int> { 0 };
        var level = new List<int> { 0 };
        int depth = 0;
        for (int k = 0; k < order.Count; k++)
        {
            int i = order[k];
            if (order.Count > n) throw new InvalidDataException($"{where}: child links do not form a tree");
            depth = Math.Max(depth, level[k]);
            if (left[i] == -1)
            {
                nodes.Add(new Node { Value = value[i], Left = (offset + k) * NodeSize });
                continue;
            }
            if ((uint)left[i] >= (uint)n || (uint)right[i] >= (uint)n || (uint)feature[i] >= (uint)featureCount)
            {
                throw new InvalidDataException($"{where}: node {i} points outside the tree or at feature {feature[i]} of {featureCount}");
            }
            // The ±∞ stand-ins for missing values are only exact against finite thresholds.
            if (!float.IsFinite(value[i])) throw new InvalidDataException($"{where}: node {i} splits at {value[i]}");
            nodes.Add(new Node
            {
                Value = value[i],
                Left = checked((offset + order.Count) * NodeSize),
                FeatureOffset = (defaultLeft[i] != 0 ? feature[i] : featureCount + feature[i]) * Lanes * sizeof(float),
                RightDelta = NodeSize,
            });
            order.Add(left[i]);
            order.Add(right[i]);
            level.Add(level[k] + 1);
            level.Add(level[k] + 1);
        }
        return depth;
    }

    // default_left is written as 0/1 numbers by XGBoost 1.7 and as booleans by some writers.
    private static int[] Ints(JsonElement tree, string name) => tree.GetProperty(name).EnumerateArray()
        .Select(e => e.ValueKind switch { JsonValueKind.True => 1, JsonValueKind.False => 0, _ => e.GetInt32() })
        .ToArray();

    public float Predict(ReadOnlySpan<float> features)
    {
        ModelInput.CheckRow(Schema, features);
        Span<float> block = stackalloc float[2 * features.Length * Lanes];
        Widen(features, block, 0);
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float lane = ref MemoryMarshal.GetReference(block);
        float sum = _baseMargin;
        for (int t = 0; t < _roots.Length; t++)
        {
            int i = _roots[t];
            for (int d = _depths[t]; d > 0; d--) i = Step(ref nodes, i, ref lane);
            sum += Unsafe.AddByteOffset(ref nodes, (nint)i).Value;
        }
        return Sigmoid(sum);
    }

    public void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        ModelInput.CheckBatch(Schema, rows, probabilities);
        int width = Schema.FeatureCount, blockFloats = 2 * width * Lanes;
        int blocksPerChunk = Math.Max(1, WidenedFloatsPerChunk / blockFloats);
        Span<float> wide = stackalloc float[blocksPerChunk * blockFloats];
        Span<float> margins = stackalloc float[blocksPerChunk * Lanes];
        for (int start = 0; start < probabilities.Length; start += margins.Length)
        {
            int count = Math.Min(margins.Length, probabilities.Length - start), blocks = (count + Lanes - 1) / Lanes;
            for (int r = 0; r < blocks * Lanes; r++)
            {
                // Spare lanes of the last block repeat the last row; their results are dropped.
                int source = start + Math.Min(r, count - 1);
                Widen(rows.Slice(source * width, width), wide.Slice(r / Lanes * blockFloats, blockFloats), r % Lanes);
            }
            SumTrees(wide, blocks, blockFloats, margins[..(blocks * Lanes)]);
            margins[..count].CopyTo(probabilities.Slice(start, count));
        }
        for (int r = 0; r < probabilities.Length; r++) probabilities[r] = Sigmoid(probabilities[r]);
    }

    private void SumTrees(ReadOnlySpan<float> wide, int blocks, int blockFloats, Span<float> margins)
    {
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float first = ref MemoryMarshal.GetReference(wide);
        margins.Fill(_baseMargin);
        for (int t = 0; t < _roots.Length; t++)
        {
            int root = _roots[t], depth = _depths[t];
            for (int b = 0; b < blocks; b++)
            {
                ref float lane = ref Unsafe.Add(ref first, b * blockFloats);
                int i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root, i6 = root, i7 = root;
                for (int d = depth; d > 0; d--)
                {
                    i0 = Step(ref nodes, i0, ref lane);
                    i1 = Step(ref nodes, i1, ref Unsafe.Add(ref lane, 1));
                    i2 = Step(ref nodes, i2, ref Unsafe.Add(ref lane, 2));
                    i3 = Step(ref nodes, i3, ref Unsafe.Add(ref lane, 3));
                    i4 = Step(ref nodes, i4, ref Unsafe.Add(ref lane, 4));
                    i5 = Step(ref nodes, i5, ref Unsafe.Add(ref lane, 5));
                    i6 = Step(ref nodes, i6, ref Unsafe.Add(ref lane, 6));
                    i7 = Step(ref nodes, i7, ref Unsafe.Add(ref lane, 7));
                }
                var m = margins.Slice(b * Lanes, Lanes);
                m[0] += Unsafe.AddByteOffset(ref nodes, (nint)i0).Value;
                m[1] += Unsafe.AddByteOffset(ref nodes, (nint)i1).Value;
                m[2] += Unsafe.AddByteOffset(ref nodes, (nint)i2).Value;
                m[3] += Unsafe.AddByteOffset(ref nodes, (nint)i3).Value;
                m[4] += Unsafe.AddByteOffset(ref nodes, (nint)i4).Value;
                m[5] += Unsafe.AddByteOffset(ref nodes, (nint)i5).Value;
                m[6] += Unsafe.AddByteOffset(ref nodes, (nint)i6).Value;
                m[7] += Unsafe.AddByteOffset(ref nodes, (nint)i7).Value;
            }
        }
    }

    /// <summary>Writes a row into one lane of a block: feature f at f·Lanes (NaN as −∞), then again from width·Lanes (NaN as +∞).</summary>
    private static void Widen(ReadOnlySpan<float> row, Span<float> block, int lane)
    {
        int right = row.Length * Lanes;
        for (int f = 0; f < row.Length; f++)
        {
            float x = row[f];
            bool missing = float.IsNaN(x);
            block[f * Lanes + lane] = missing ? float.NegativeInfinity : x;
            block[right + f * Lanes + lane] = missing ? float.PositiveInfinity : x;
        }
    }

    /// <summary>
    /// One level down, without branches: <paramref name="offset"/> is a node's byte offset and
    /// <paramref name="lane"/> the row's lane in its block. Offsets were range-checked at load and
    /// block sizes come from the schema, hence the unchecked reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Step(ref Node nodes, int offset, ref float lane)
    {
        ref Node node = ref Unsafe.AddByteOffset(ref nodes, (nint)offset);
        int goLeft = Unsafe.AddByteOffset(ref lane, (nint)node.FeatureOffset) < node.Value ? 1 : 0;
        return node.Left + (node.RightDelta & (goLeft - 1));
    }

    // XGBoost's common::Sigmoid, in float.
    private static float Sigmoid(float margin) => 1f / (1f + MathF.Exp(-margin));
}
