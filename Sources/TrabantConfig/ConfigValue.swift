/// A parsed configuration tree. Scalars stay strings (with the line they came from) and are
/// typed when read, so that YAML values and environment overrides parse the same way.
public indirect enum ConfigValue: Sendable, Equatable {
    case scalar(String, line: Int?)
    case list([ConfigValue], line: Int?)
    case map([(String, ConfigValue)], line: Int?)

    public static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.scalar(let a, _), .scalar(let b, _)): return a == b
        case (.list(let a, _), .list(let b, _)): return a == b
        case (.map(let a, _), .map(let b, _)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    var line: Int? {
        switch self {
        case .scalar(_, let l), .list(_, let l), .map(_, let l): return l
        }
    }

    /// The value at a dotted path ("media.port_range").
    func lookup(_ path: [Substring]) -> ConfigValue? {
        guard let first = path.first else { return self }
        guard case .map(let entries, _) = self, let child = entries.last(where: { $0.0 == first })?.1 else { return nil }
        return child.lookup(Array(path.dropFirst()))
    }

    /// Sets the value at a dotted path, creating maps on the way.
    func setting(_ path: [Substring], to value: ConfigValue) -> ConfigValue {
        guard let first = path.first else { return value }
        var entries: [(String, ConfigValue)] = []
        var line: Int? = nil
        if case .map(let e, let l) = self {
            entries = e
            line = l
        }
        if let i = entries.lastIndex(where: { $0.0 == first }) {
            entries[i].1 = entries[i].1.setting(Array(path.dropFirst()), to: value)
        } else {
            entries.append((String(first), ConfigValue.map([], line: nil).setting(Array(path.dropFirst()), to: value)))
        }
        return .map(entries, line: line)
    }

    /// Every leaf key path, for the unknown-key check.
    func leafPaths(prefix: String = "") -> [(String, Int?)] {
        switch self {
        case .map(let entries, _):
            return entries.flatMap { key, value in
                value.leafPaths(prefix: prefix.isEmpty ? key : "\(prefix).\(key)")
            }
        default:
            return [(prefix, line)]
        }
    }
}
