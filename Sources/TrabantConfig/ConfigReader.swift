import Foundation
import Yams

/// Reads one role's YAML configuration, applies environment overrides, and hands out typed,
/// validated values. Every error names the file, line, key and what is allowed.
///
/// Environment overrides: `TRABANT_<SECTION>__<KEY>` sets `section.key` (double underscore
/// between levels, case-insensitive), e.g. `TRABANT_MEDIA__PORT_RANGE=40000-40999`.
public struct ConfigReader: Sendable {
    public let file: String?
    public let root: ConfigValue
    /// Keys set from the environment, for the log.
    public let overridden: [String]

    public static let environmentPrefix = "TRABANT_"

    public init(yaml: String, file: String? = nil, environment: [String: String] = [:], allowedKeys: Set<String>)
        throws(ConfigError)
    {
        var root: ConfigValue = .map([], line: nil)
        if !yaml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let node: Node?
            do {
                node = try Yams.compose(yaml: yaml)
            } catch {
                throw ConfigError(file: file, key: "", "not valid YAML: \(error)")
            }
            if let node {
                root = try Self.convert(node, file: file, path: "")
                guard case .map = root else {
                    throw ConfigError(file: file, line: node.mark?.line, key: "", "the top level must be a mapping of sections")
                }
            }
        }
        var overridden: [String] = []
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(Self.environmentPrefix) {
            let key = name.dropFirst(Self.environmentPrefix.count).lowercased().replacingOccurrences(of: "__", with: ".")
            guard allowedKeys.contains(key) else { continue }
            root = root.setting(key.split(separator: "."), to: .scalar(value, line: nil))
            overridden.append(key)
        }
        for (path, line) in root.leafPaths() where !allowedKeys.contains(path) {
            let section = path.split(separator: ".").dropLast().joined(separator: ".")
            let siblings = allowedKeys.filter { k in
                section.isEmpty ? true : k.hasPrefix(section + ".")
            }.sorted()
            throw ConfigError(
                file: file, line: line, key: path,
                "unknown key; allowed\(section.isEmpty ? "" : " in '\(section)'"): \(siblings.joined(separator: ", "))")
        }
        self.file = file
        self.root = root
        self.overridden = overridden
    }

    /// Loads `path` (nil: no file, defaults and environment only).
    public static func load(path: String?, environment: [String: String], allowedKeys: Set<String>) throws(ConfigError)
        -> ConfigReader
    {
        guard let path else { return try ConfigReader(yaml: "", environment: environment, allowedKeys: allowedKeys) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, key: "", "cannot read the configuration file: \(error.localizedDescription)")
        }
        return try ConfigReader(yaml: text, file: path, environment: environment, allowedKeys: allowedKeys)
    }

    private static func convert(_ node: Node, file: String?, path: String) throws(ConfigError) -> ConfigValue {
        let line = node.mark?.line
        switch node {
        case .scalar(let s):
            return .scalar(s.string, line: line)
        case .sequence(let seq):
            var items: [ConfigValue] = []
            for n in seq { items.append(try convert(n, file: file, path: path)) }
            return .list(items, line: line)
        case .mapping(let map):
            var entries: [(String, ConfigValue)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw ConfigError(file: file, line: k.mark?.line, key: path, "keys must be plain strings")
                }
                let key = path.isEmpty ? ks.string : "\(path).\(ks.string)"
                if entries.contains(where: { $0.0 == ks.string }) {
                    throw ConfigError(file: file, line: k.mark?.line, key: key, "duplicate key")
                }
                entries.append((ks.string, try convert(v, file: file, path: key)))
            }
            return .map(entries, line: line)
        case .alias:
            throw ConfigError(file: file, line: line, key: path, "YAML aliases are not supported")
        }
    }

    // MARK: typed access

    private func scalar(_ key: String) throws(ConfigError) -> (String, Int?)? {
        guard let v = root.lookup(key.split(separator: ".")) else { return nil }
        guard case .scalar(let s, let line) = v else {
            throw ConfigError(file: file, line: v.line, key: key, "must be a single value, not a list or mapping")
        }
        return (s.trimmingCharacters(in: .whitespaces), line)
    }

    private func fail(_ key: String, _ line: Int?, _ message: String) -> ConfigError {
        if overridden.contains(key) {
            let name = Self.environmentPrefix + key.uppercased().replacingOccurrences(of: ".", with: "__")
            return ConfigError(file: "environment variable \(name)", key: key, message)
        }
        return ConfigError(file: file, line: line, key: key, message)
    }

    public func string(_ key: String, default value: String) throws(ConfigError) -> String {
        try scalar(key)?.0 ?? value
    }

    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let (s, _) = try scalar(key), !s.isEmpty, s != "~", s != "null" else { return nil }
        return s
    }

    public func oneOf(_ key: String, _ allowed: [String], default value: String) throws(ConfigError) -> String {
        guard let (s, line) = try scalar(key) else { return value }
        guard allowed.contains(s) else {
            throw fail(key, line, "'\(s)' is not allowed; allowed: \(allowed.joined(separator: ", "))")
        }
        return s
    }

    public func int(_ key: String, in range: ClosedRange<Int>, default value: Int) throws(ConfigError) -> Int {
        guard let (s, line) = try scalar(key) else { return value }
        guard let n = Int(s), range.contains(n) else {
            throw fail(key, line, "'\(s)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    /// Seconds, as a number or with a unit: "500ms", "60s", "5m", "4h".
    public func seconds(_ key: String, in range: ClosedRange<Double>, default value: Double) throws(ConfigError) -> Double {
        guard let (s, line) = try scalar(key) else { return value }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = s
        var factor = 1.0
        for (suffix, f) in units where s.hasSuffix(suffix) {
            number = String(s.dropLast(suffix.count))
            factor = f
            break
        }
        guard let n = Double(number), n.isFinite, range.contains(n * factor) else {
            throw fail(
                key, line,
                "'\(s)' is not a duration between \(range.lowerBound) and \(range.upperBound) seconds "
                    + "(a number of seconds, or with ms, s, m or h)")
        }
        return n * factor
    }

    /// A port range "LOW-HIGH" with 1024 <= LOW < HIGH <= 65535.
    public func portRange(_ key: String, default value: ClosedRange<UInt16>) throws(ConfigError) -> ClosedRange<UInt16> {
        guard let (s, line) = try scalar(key) else { return value }
        let parts = s.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let lo = UInt16(parts[0]), let hi = UInt16(parts[1]), lo >= 1024, lo < hi else {
            throw fail(key, line, "'\(s)' is not a port range LOW-HIGH with 1024 <= LOW < HIGH <= 65535")
        }
        return lo...hi
    }

    /// An IPv4 or IPv6 address literal.
    /// A list of strings: a YAML sequence of scalars, or one comma-separated scalar (the form
    /// an environment variable gives).
    public func stringList(_ key: String, default value: [String]) throws(ConfigError) -> [String] {
        guard let v = root.lookup(key.split(separator: ".")) else { return value }
        switch v {
        case .scalar(let s, _):
            return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .list(let items, _):
            var out: [String] = []
            for item in items {
                guard case .scalar(let s, _) = item else {
                    throw fail(key, item.line, "every item must be a single value")
                }
                out.append(s.trimmingCharacters(in: .whitespaces))
            }
            return out
        case .map(_, let line):
            throw fail(key, line, "must be a list, not a mapping")
        }
    }

    /// A listening address "ADDRESS:PORT" (IPv6 in brackets); nil for "off" when `offAllowed`.
    public func listenAddress(_ key: String, default value: String, offAllowed: Bool = false) throws(ConfigError) -> (host: String, port: Int)? {
        let text = try string(key, default: value)
        if offAllowed, text == "off" { return nil }
        let example = value == "off" ? "127.0.0.1:9280" : value
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
            Self.isAddress(String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
        else {
            throw invalid(key, "'\(text)' is not ADDRESS:PORT (e.g. \(example))\(offAllowed ? " or off" : "")")
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// Reports a value that parsed but is not allowed, with its file and line.
    public func invalid(_ key: String, _ message: String) -> ConfigError {
        fail(key, root.lookup(key.split(separator: "."))?.line, message)
    }

    public func address(_ key: String, default value: String?) throws(ConfigError) -> String? {
        guard let s = try optionalString(key) else { return value }
        guard Self.isAddress(s) else {
            throw fail(key, nil, "'\(s)' is not an IPv4 or IPv6 address (host names are not allowed here)")
        }
        return s
    }

    public static func isAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}
