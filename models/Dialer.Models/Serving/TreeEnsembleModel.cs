using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>
/// Managed evaluator of a saved XGBoost binary:logistic model. Trees are flattened into one node
/// array; sums run in float in tree order from the base margin and end in the same sigmoid as
/// XGBoost, which reproduces its predictions bit for bit.
/// </summary>
public sealed class TreeEnsembleModel : IAnswerRateModel
{
    private struct Node
    {
        public int Feature;   // -1 for a leaf
        public float Value;   // split threshold (go left when x < Value), or the leaf value
        public int Left;
        public int Right;
        public int Missing;   // the child a NaN feature follows (XGBoost's default_left)
    }

    private readonly Node[] _nodes;
    private readonly int[] _roots;
    private readonly float _baseMargin;

    public FeatureSchema Schema { get; }
    public bool IsFallback => false;
    public int TreeCount => _roots.Length;

    private TreeEnsembleModel(FeatureSchema schema, Node[] nodes, int[] roots, float baseMargin) =>
        (Schema, _nodes, _roots, _baseMargin) = (schema, nodes, roots, baseMargin);

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
        int t = 0;
        foreach (var tree in booster.GetProperty("model").GetProperty("trees").EnumerateArray())
        {
            roots.Add(nodes.Count);
            AddTree(tree, nodes, schema.FeatureCount, $"{source}: tree {t++}");
        }
        return new TreeEnsembleModel(schema, nodes.ToArray(), roots.ToArray(), baseMargin);
    }

    private static void AddTree(JsonElement tree, List<Node> nodes, int featureCount, string where)
    {
        int[] left = Ints(tree, "left_children"), right = Ints(tree, "right_children"), feature = Ints(tree, "split_indices");
        int[] defaultLeft = Ints(tree, "default_left");
        float[] value = tree.GetProperty("split_conditions").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        int n = left.Length, offset = nodes.Count;
        if (n == 0 || right.Length != n || feature.Length != n || defaultLeft.Length != n || value.Length != n)
        {
            throw new InvalidDataException($"{where}: node arrays are empty or of different lengths");
        }
        for (int i = 0; i < n; i++)
        {
            bool leaf = left[i] == -1;
            if (!leaf && ((uint)left[i] >= (uint)n || (uint)right[i] >= (uint)n || (uint)feature[i] >= (uint)featureCount))
            {
                throw new InvalidDataException($"{where}: node {i} points outside the tree or at feature {feature[i]} of {featureCount}");
            }
            nodes.Add(leaf
                ? new Node { Feature = -1, Value = value[i] }
                : new Node
                {
                    Feature = feature[i],
                    Value = value[i],
                    Left = offset + left[i],
                    Right = offset + right[i],
                    Missing = offset + (defaultLeft[i] != 0 ? left[i] : right[i]),
                });
        }
    }

    // default_left is written as 0/1 numbers by XGBoost 1.7 and as booleans by some writers.
    private static int[] Ints(JsonElement tree, string name) => tree.GetProperty(name).EnumerateArray()
        .Select(e => e.ValueKind switch { JsonValueKind.True => 1, JsonValueKind.False => 0, _ => e.GetInt32() })
        .ToArray();

    public float Predict(ReadOnlySpan<float> features)
    {
        ModelInput.CheckRow(Schema, features);
        float sum = _baseMargin;
        var nodes = _nodes;
        foreach (int root in _roots) sum += Leaf(nodes, root, features);
        return Sigmoid(sum);
    }

    /// <summary>Tree by tree over the whole batch, so each tree's nodes stay in cache.</summary>
    public void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        ModelInput.CheckBatch(Schema, rows, probabilities);
        int width = Schema.FeatureCount;
        var nodes = _nodes;
        probabilities.Fill(_baseMargin);
        foreach (int root in _roots)
        {
            for (int r = 0; r < probabilities.Length; r++)
            {
                probabilities[r] += Leaf(nodes, root, rows.Slice(r * width, width));
            }
        }
        for (int r = 0; r < probabilities.Length; r++) probabilities[r] = Sigmoid(probabilities[r]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Leaf(Node[] nodes, int index, ReadOnlySpan<float> row)
    {
        while (true)
        {
            ref readonly Node node = ref nodes[index];
            if (node.Feature < 0) return node.Value;
            float x = row[node.Feature];
            index = float.IsNaN(x) ? node.Missing : x < node.Value ? node.Left : node.Right;
        }
    }

    // XGBoost's common::Sigmoid, in float.
    private static float Sigmoid(float margin) => 1f / (1f + MathF.Exp(-margin));
}
