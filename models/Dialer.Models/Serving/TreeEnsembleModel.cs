using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>
/// Managed evaluator of a saved XGBoost binary:logistic model. Sums run in float in tree order from
/// the base margin and end in the same sigmoid as XGBoost, which reproduces its predictions bit for bit.
/// Trees are flattened breadth-first with sibling nodes adjacent and leaves pointing at themselves,
/// so every row walks a tree in exactly "depth" branch-free steps: no mispredicted branches, and
/// consecutive rows' walks overlap in the CPU.
/// Missing values cost nothing per node: each row is widened once into a copy with NaN as −∞ and a
/// copy with NaN as +∞; a node whose missing values go left reads the first (−∞ &lt; threshold), one
/// whose missing values go right reads the second, which equals XGBoost's default_left rule.
/// </summary>
public sealed class TreeEnsembleModel : IAnswerRateModel
{
    /// <summary>12 bytes, so a depth-6 tree fits in 1.5 KB of cache.</summary>
    private struct Node
    {
        public float Value;      // split: go left when x < Value; leaf: the leaf value
        public int Left;         // byte offset of the left child; the right child follows it
        public short Feature;    // index into the widened row (see the class summary)
        public byte RightDelta;  // byte distance to the right child: one node on splits, 0 on leaves (which point at themselves)
    }

    private static readonly int NodeSize = Unsafe.SizeOf<Node>();

    // Rows widened per chunk of a batch, sized so the widened copy (on the stack) stays near 32 KB.
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
        if (2 * schema.FeatureCount > short.MaxValue) throw new InvalidDataException($"{source}: {schema.FeatureCount} features is more than the evaluator supports");

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
            if (order.Count > n) throw new InvalidDataException($"{where}: nodes form a cycle");
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
                Left = (offset + order.Count) * NodeSize,
                Feature = (short)(defaultLeft[i] != 0 ? feature[i] : featureCount + feature[i]),
                RightDelta = (byte)NodeSize,
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
        Span<float> wide = stackalloc float[2 * features.Length];
        Widen(features, wide);
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float row = ref MemoryMarshal.GetReference(wide);
        float sum = _baseMargin;
        for (int t = 0; t < _roots.Length; t++)
        {
            int i = _roots[t];
            for (int d = _depths[t]; d > 0; d--) i = Step(ref nodes, i, ref row);
            sum += Unsafe.AddByteOffset(ref nodes, (nint)i).Value;
        }
        return Sigmoid(sum);
    }

    /// <summary>Tree by tree over a chunk of rows, so each tree's nodes stay in cache; four rows walk side by side.</summary>
    public void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        ModelInput.CheckBatch(Schema, rows, probabilities);
        int width = 2 * Schema.FeatureCount, chunk = Math.Max(1, WidenedFloatsPerChunk / width);
        Span<float> wide = stackalloc float[chunk * width];
        for (int start = 0; start < probabilities.Length; start += chunk)
        {
            int count = Math.Min(chunk, probabilities.Length - start);
            for (int r = 0; r < count; r++)
            {
                Widen(rows.Slice((start + r) * Schema.FeatureCount, Schema.FeatureCount), wide.Slice(r * width, width));
            }
            SumTrees(wide, width, probabilities.Slice(start, count));
        }
        for (int r = 0; r < probabilities.Length; r++) probabilities[r] = Sigmoid(probabilities[r]);
    }

    private void SumTrees(ReadOnlySpan<float> wide, int width, Span<float> margins)
    {
        int count = margins.Length;
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float first = ref MemoryMarshal.GetReference(wide);
        margins.Fill(_baseMargin);
        for (int t = 0; t < _roots.Length; t++)
        {
            int root = _roots[t], depth = _depths[t], r = 0;
            for (; r + 4 <= count; r += 4)
            {
                ref float r0 = ref Unsafe.Add(ref first, r * width);
                ref float r1 = ref Unsafe.Add(ref r0, width);
                ref float r2 = ref Unsafe.Add(ref r1, width);
                ref float r3 = ref Unsafe.Add(ref r2, width);
                int a = root, b = root, c = root, e = root;
                for (int d = depth; d > 0; d--)
                {
                    a = Step(ref nodes, a, ref r0);
                    b = Step(ref nodes, b, ref r1);
                    c = Step(ref nodes, c, ref r2);
                    e = Step(ref nodes, e, ref r3);
                }
                margins[r] += Unsafe.AddByteOffset(ref nodes, (nint)a).Value;
                margins[r + 1] += Unsafe.AddByteOffset(ref nodes, (nint)b).Value;
                margins[r + 2] += Unsafe.AddByteOffset(ref nodes, (nint)c).Value;
                margins[r + 3] += Unsafe.AddByteOffset(ref nodes, (nint)e).Value;
            }
            for (; r < count; r++)
            {
                ref float row = ref Unsafe.Add(ref first, r * width);
                int i = root;
                for (int d = depth; d > 0; d--) i = Step(ref nodes, i, ref row);
                margins[r] += Unsafe.AddByteOffset(ref nodes, (nint)i).Value;
            }
        }
    }

    /// <summary>Row → [row with NaN as −∞, row with NaN as +∞] (see the class summary).</summary>
    private static void Widen(ReadOnlySpan<float> row, Span<float> wide)
    {
        var missingLeft = wide[..row.Length];
        var missingRight = wide[row.Length..];
        for (int i = 0; i < row.Length; i++)
        {
            float x = row[i];
            bool missing = float.IsNaN(x);
            missingLeft[i] = missing ? float.NegativeInfinity : x;
            missingRight[i] = missing ? float.PositiveInfinity : x;
        }
    }

    /// <summary>
    /// One level down, without branches: <paramref name="offset"/> is a node's byte offset. Offsets and
    /// features were range-checked at load and the row length by the caller, hence the unchecked reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Step(ref Node nodes, int offset, ref float row)
    {
        ref Node node = ref Unsafe.AddByteOffset(ref nodes, (nint)offset);
        int goLeft = Unsafe.Add(ref row, node.Feature) < node.Value ? 1 : 0;
        return node.Left + (node.RightDelta & (goLeft - 1));
    }

    // XGBoost's common::Sigmoid, in float.
    private static float Sigmoid(float margin) => 1f / (1f + MathF.Exp(-margin));
}
