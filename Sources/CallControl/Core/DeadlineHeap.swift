/// A min-heap of (deadline, key): the clock's tick looks only at what is due, not at every
/// transaction (tens of thousands wait out Timer L/M at a few thousand calls per second).
/// Entries are not removed when a deadline changes; the tick checks each popped key against
/// the record's current deadline (lazy deletion).
struct DeadlineHeap<Key> {
    private var items: [(deadline: Double, key: Key)] = []

    var count: Int { items.count }

    mutating func push(_ deadline: Double, _ key: Key) {
        items.append((deadline, key))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].deadline < items[parent].deadline else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(_ now: Double) -> Key? {
        guard let first = items.first, first.deadline <= now else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < items.count && items[l].deadline < items[m].deadline { m = l }
                if r < items.count && items[r].deadline < items[m].deadline { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first.key
    }
}
