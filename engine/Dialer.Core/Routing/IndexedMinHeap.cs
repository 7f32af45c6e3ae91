namespace Dialer.Core.Routing;

/// <summary>
/// Min-heap of item indexes (0..capacity-1) ordered by an external key, with O(log n) removal of any item.
/// Several heaps may share one position array when every item sits in at most one of them.
/// </summary>
internal sealed class IndexedMinHeap(double[] keys, int[] positions, int capacity)
{
    private readonly int[] _heap = new int[capacity];

    public int Count { get; private set; }
    public int Peek() => _heap[0];

    public void Push(int item)
    {
        _heap[Count] = item;
        positions[item] = Count;
        Count++;
        Up(Count - 1);
    }

    public void Remove(int item)
    {
        var i = positions[item];
        positions[item] = -1;
        Count--;
        if (i == Count) return;
        var moved = _heap[Count];
        _heap[i] = moved;
        positions[moved] = i;
        Up(i);
        Down(positions[moved]);
    }

    private bool Less(int a, int b) => keys[a] < keys[b] || (keys[a] == keys[b] && a < b);

    private void Up(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (!Less(_heap[i], _heap[parent])) break;
            Swap(i, parent);
            i = parent;
        }
    }

    private void Down(int i)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < Count && Less(_heap[l], _heap[m])) m = l;
            if (r < Count && Less(_heap[r], _heap[m])) m = r;
            if (m == i) return;
            Swap(i, m);
            i = m;
        }
    }

    private void Swap(int a, int b)
    {
        (_heap[a], _heap[b]) = (_heap[b], _heap[a]);
        positions[_heap[a]] = a;
        positions[_heap[b]] = b;
    }
}
