using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dialer.Models.Evaluation;
using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>
/// Managed evaluator of a <see cref="TreeModelFile"/> (FastTree's trees, exported): leaf values summed in
/// double in tree order, cast to float, then Platt's sigmoid, which is ML.NET's own arithmetic and
/// reproduces its predictions bit for bit.
/// <list type="bullet">
/// <item>Trees are flattened breadth-first with siblings adjacent and leaves pointing at themselves,
/// so a row walks a tree in exactly "depth" branch-free steps: nothing to mispredict.</item>
/// <item>Rows are copied into blocks of <see cref="Lanes"/>, feature-major, so the eight walks of a block
/// share one base address and run side by side; a batch goes tree by tree over its blocks, keeping each
/// tree in cache.</item>
/// </list>
/// </summary>
[SkipLocalsInit]
public sealed class TreeEnsembleModel : IAnswerRateModel
{
    private struct Node
    {
        public float Threshold;   // split: go left when x <= Threshold
        public int Left;          // byte offset of the left child; the right child follows it
        public int FeatureOffset; // byte offset of the feature within a block's lane 0
        public int RightDelta;    // byte distance to the right child: one node on splits, 0 on leaves (which point at themselves)
    }

    private const int Lanes = 8;

    private static readonly int NodeSize = Unsafe.SizeOf<Node>();

    // Blocks copied per chunk of a batch, sized so the copy (on the stack) stays near 32 KB.
    private const int BlockFloatsPerChunk = 8192;

    private readonly Node[] _nodes;
    private readonly double[] _leafValues; // by node index; read once per tree, so kept out of the nodes the walk touches
    private readonly int[] _roots; // byte offsets
    private readonly int[] _depths;
    private readonly double _plattSlope, _plattOffset;

    public FeatureSchema Schema { get; }
    public bool IsFallback => false;
    public int TreeCount => _roots.Length;

    private TreeEnsembleModel(FeatureSchema schema, Node[] nodes, double[] leafValues, int[] roots, int[] depths, double plattSlope, double plattOffset) =>
        (Schema, _nodes, _leafValues, _roots, _depths, _plattSlope, _plattOffset) = (schema, nodes, leafValues, roots, depths, plattSlope, plattOffset);

    /// <summary>Loads a published model directory, refusing a model whose schema or features don't match.</summary>
    public static TreeEnsembleModel Load(string directory)
    {
        string schemaPath = Path.Combine(directory, ModelFiles.Schema), modelPath = Path.Combine(directory, ModelFiles.Model);
        if (!File.Exists(schemaPath)) throw new FileNotFoundException($"{schemaPath}: no feature schema; a model directory holds {ModelFiles.Model} and {ModelFiles.Schema}", schemaPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: no model; a model directory holds {ModelFiles.Model} and {ModelFiles.Schema}", modelPath);
        var schema = FeatureSchema.FromJson(File.ReadAllText(schemaPath), schemaPath);
        return Create(TreeModelFile.FromJson(File.ReadAllBytes(modelPath), modelPath), schema, modelPath);
    }

    /// <summary>The evaluator of <paramref name="file"/>, whose feature names must be exactly the schema's.</summary>
    public static TreeEnsembleModel Create(TreeModelFile file, FeatureSchema schema, string source)
    {
        FeatureSchema.RequireSameFeatures(schema.FeatureNames, file.FeatureNames ?? [], source);
        if (file.Trees is not { Length: > 0 } trees) throw new InvalidDataException($"{source}: model has no trees");
        if (!double.IsFinite(file.PlattSlope) || !double.IsFinite(file.PlattOffset))
        {
            throw new InvalidDataException($"{source}: Platt slope {file.PlattSlope} or offset {file.PlattOffset} is not finite");
        }
        var nodes = new List<Node>();
        var leafValues = new List<double>();
        var roots = new int[trees.Length];
        var depths = new int[trees.Length];
        for (int t = 0; t < trees.Length; t++)
        {
            roots[t] = checked(nodes.Count * NodeSize);
            depths[t] = AddTree(trees[t], nodes, leafValues, schema.FeatureCount, $"{source}: tree {t}");
        }
        return new TreeEnsembleModel(schema, nodes.ToArray(), leafValues.ToArray(), roots, depths, file.PlattSlope, file.PlattOffset);
    }

    /// <summary>Appends one tree breadth-first (siblings adjacent) and returns its depth.</summary>
    private static int AddTree(TreeModelFile.Tree tree, List<Node> nodes, List<double> leafValues, int featureCount, string where)
    {
        int[] left = tree.Left ?? [], right = tree.Right ?? [], feature = tree.Feature ?? [];
        float[] threshold = tree.Threshold ?? [];
        double[] leaves = tree.LeafValues ?? [];
        int splits = left.Length, offset = nodes.Count;
        if (right.Length != splits || feature.Length != splits || threshold.Length != splits || leaves.Length != splits + 1)
        {
            throw new InvalidDataException($"{where}: {splits} split nodes need as many right children, features and thresholds, and {splits + 1} leaf values");
        }
        // A child link as read: split nodes are 0..splits-1, leaf j is splits + j.
        int Node(int child) => child >= 0 ? child : splits + ~child;
        // order[k] is the node placed at offset + k; level[k] its depth.
        var order = new List<int> { splits == 0 ? Node(~0) : 0 };
        var level = new List<int> { 0 };
        int depth = 0;
        for (int k = 0; k < order.Count; k++)
        {
            int i = order[k];
            if (order.Count > 2 * splits + 1) throw new InvalidDataException($"{where}: child links do not form a tree");
            depth = Math.Max(depth, level[k]);
            if (i >= splits)
            {
                nodes.Add(new Node { Left = (offset + k) * NodeSize });
                leafValues.Add(leaves[i - splits]);
                continue;
            }
            int l = Node(left[i]), r = Node(right[i]);
            if ((uint)l >= (uint)(2 * splits + 1) || (uint)r >= (uint)(2 * splits + 1) || (uint)feature[i] >= (uint)featureCount)
            {
                throw new InvalidDataException($"{where}: node {i} points outside the tree or at feature {feature[i]} of {featureCount}");
            }
            nodes.Add(new Node
            {
                Threshold = threshold[i],
                Left = checked((offset + order.Count) * NodeSize),
                FeatureOffset = feature[i] * Lanes * sizeof(float),
                RightDelta = NodeSize,
            });
            leafValues.Add(0);
            order.Add(l);
            order.Add(r);
            level.Add(level[k] + 1);
            level.Add(level[k] + 1);
        }
        return depth;
    }

    public float Predict(ReadOnlySpan<float> features)
    {
        ModelInput.CheckRow(Schema, features);
        Span<float> block = stackalloc float[features.Length * Lanes];
        CopyIntoLane(features, block, 0);
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float lane = ref MemoryMarshal.GetReference(block);
        double sum = 0;
        for (int t = 0; t < _roots.Length; t++)
        {
            int i = _roots[t];
            for (int d = _depths[t]; d > 0; d--) i = Step(ref nodes, i, ref lane);
            sum += LeafValue(i);
        }
        return Probability(sum);
    }

    public void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        ModelInput.CheckBatch(Schema, rows, probabilities);
        int blockFloats = Schema.FeatureCount * Lanes;
        Span<float> blocks = stackalloc float[BlocksPerChunk(blockFloats) * blockFloats];
        Span<double> margins = stackalloc double[BlocksPerChunk(blockFloats) * Lanes];
        for (int start = 0; start < probabilities.Length; start += margins.Length)
        {
            int count = Math.Min(margins.Length, probabilities.Length - start);
            int blockCount = CopyChunk(rows, start, count, blocks, margins);
            for (int t = 0; t < _roots.Length; t++) AddTree(t, blocks, blockCount, blockFloats, margins);
            for (int r = 0; r < count; r++) probabilities[start + r] = Probability(margins[r]);
        }
    }

    /// <summary>
    /// Log-loss of every prefix of the ensemble on labelled rows: element k − 1 is that of the first k trees,
    /// each computed exactly as <see cref="Metrics.LogLoss(ReadOnlySpan{float}, ReadOnlySpan{float})"/> would
    /// score that prefix's predictions. One pass over the trees serves every prefix.
    /// </summary>
    internal double[] LogLossByTreeCount(ReadOnlySpan<float> rows, ReadOnlySpan<float> labels)
    {
        int blockFloats = Schema.FeatureCount * Lanes;
        if (rows.Length != labels.Length * Schema.FeatureCount) throw new ArgumentException($"{rows.Length} feature values is not {labels.Length} rows of {Schema.FeatureCount} features", nameof(rows));
        var losses = new double[_roots.Length];
        var blocks = new float[BlocksPerChunk(blockFloats) * blockFloats];
        var margins = new double[BlocksPerChunk(blockFloats) * Lanes];
        for (int start = 0; start < labels.Length; start += margins.Length)
        {
            int count = Math.Min(margins.Length, labels.Length - start);
            int blockCount = CopyChunk(rows, start, count, blocks, margins);
            for (int t = 0; t < _roots.Length; t++)
            {
                AddTree(t, blocks, blockCount, blockFloats, margins);
                for (int r = 0; r < count; r++) losses[t] += Metrics.LogLoss(Probability(margins[r]), labels[start + r]);
            }
        }
        for (int t = 0; t < losses.Length; t++) losses[t] = labels.Length == 0 ? 0 : losses[t] / labels.Length;
        return losses;
    }

    private static int BlocksPerChunk(int blockFloats) => Math.Max(1, BlockFloatsPerChunk / blockFloats);

    /// <summary>Copies rows start..start+count into blocks, zeroes their margins, and returns the number of blocks.</summary>
    private int CopyChunk(ReadOnlySpan<float> rows, int start, int count, Span<float> blocks, Span<double> margins)
    {
        int width = Schema.FeatureCount, blockFloats = width * Lanes, blockCount = (count + Lanes - 1) / Lanes;
        for (int r = 0; r < blockCount * Lanes; r++)
        {
            // Spare lanes of the last block repeat the last row; their results are dropped.
            int source = start + Math.Min(r, count - 1);
            CopyIntoLane(rows.Slice(source * width, width), blocks.Slice(r / Lanes * blockFloats, blockFloats), r % Lanes);
        }
        margins[..(blockCount * Lanes)].Clear();
        return blockCount;
    }

    /// <summary>Adds tree <paramref name="t"/>'s leaf value to the margin of every lane of every block.</summary>
    private void AddTree(int t, ReadOnlySpan<float> blocks, int blockCount, int blockFloats, Span<double> margins)
    {
        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref float first = ref MemoryMarshal.GetReference(blocks);
        int root = _roots[t], depth = _depths[t];
        for (int b = 0; b < blockCount; b++)
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
            m[0] += LeafValue(i0);
            m[1] += LeafValue(i1);
            m[2] += LeafValue(i2);
            m[3] += LeafValue(i3);
            m[4] += LeafValue(i4);
            m[5] += LeafValue(i5);
            m[6] += LeafValue(i6);
            m[7] += LeafValue(i7);
        }
    }

    /// <summary>Writes a row into one lane of a block: feature f at f·Lanes + lane.</summary>
    private static void CopyIntoLane(ReadOnlySpan<float> row, Span<float> block, int lane)
    {
        for (int f = 0; f < row.Length; f++) block[f * Lanes + lane] = row[f];
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
        int goLeft = Unsafe.AddByteOffset(ref lane, (nint)node.FeatureOffset) <= node.Threshold ? 1 : 0;
        return node.Left + (node.RightDelta & (goLeft - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double LeafValue(int offset) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_leafValues), offset / NodeSize);

    // ML.NET's order of operations: the score is the float of the double sum; Platt's sigmoid runs in double.
    private float Probability(double margin) => (float)(1 / (1 + Math.Exp(_plattSlope * (float)margin + _plattOffset)));
}
