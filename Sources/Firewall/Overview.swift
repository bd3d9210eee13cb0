/// The connection overview (the source document's "connection overview with ports"), from
/// the same policy as the firewall.
public enum Overview {
    public enum Format: String, Sendable, CaseIterable { case table, markdown, csv, svg }

    static let header = ["from", "to", "protocol", "port", "direction", "protection", "purpose"]

    static func row(_ f: Flow) -> [String] {
        [
            "\(f.from) [\(f.fromZone.rawValue)]", "\(f.to) [\(f.toZone.rawValue)]", f.proto.rawValue.uppercased(), f.portText,
            f.direction.rawValue, f.protection, f.purpose,
        ]
    }

    public static func render(_ p: FirewallPolicy, as format: Format) -> String {
        switch format {
        case .table: return table(p)
        case .markdown: return markdown(p)
        case .csv: return csv(p)
        case .svg: return svg(p)
        }
    }

    static func table(_ p: FirewallPolicy) -> String {
        let rows = [header] + p.flows.map(row)
        let widths = header.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { c, cell in cell + String(repeating: " ", count: widths[c] - cell.count) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        var out = [line(rows[0]), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.dropFirst().map(line)
        return out.joined(separator: "\n") + "\n"
    }

    static func markdown(_ p: FirewallPolicy) -> String {
        func cells(_ r: [String]) -> String { "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        return ([cells(header), "|" + String(repeating: "---|", count: header.count)] + p.flows.map { cells(row($0)) })
            .joined(separator: "\n") + "\n"
    }

    /// RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled.
    static func csv(_ p: FirewallPolicy) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([header] + p.flows.map(row)).map { $0.map(field).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// Three zones side by side (internet, DMZ, LAN) with the satellite in the DMZ and one
    /// labelled arrow per flow between the boxes of its ends.
    static func svg(_ p: FirewallPolicy) -> String {
        let zones: [Zone] = [.internet, .dmz, .lan]
        let zoneWidth = 300
        let rowHeight = 64
        let top = 90
        let height = top + p.flows.count * rowHeight + 40
        let width = zoneWidth * 3 + 40
        func x(_ z: Zone) -> Int { 20 + (zones.firstIndex(of: z) ?? 0) * zoneWidth + zoneWidth / 2 }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
            <title>Trabant satellite: connection overview</title>
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>

            """
        let fills: [Zone: String] = [.internet: "#fdecea", .dmz: "#fff7e0", .lan: "#e8f4ea"]
        for (n, z) in zones.enumerated() {
            let x0 = 20 + n * zoneWidth
            s += "<rect x=\"\(x0)\" y=\"20\" width=\"\(zoneWidth - 10)\" height=\"\(height - 40)\" rx=\"8\" fill=\"\(fills[z]!)\" stroke=\"#999\"/>\n"
            s += "<text x=\"\(x0 + (zoneWidth - 10) / 2)\" y=\"44\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(z.rawValue)</text>\n"
        }
        s += "<text x=\"\(x(.dmz))\" y=\"66\" text-anchor=\"middle\" font-weight=\"bold\">satellite</text>\n"
        for (n, f) in p.flows.enumerated() {
            let y = top + n * rowHeight + 30
            var x1 = x(f.fromZone)
            var x2 = x(f.toZone)
            if x1 == x2 {  // within one zone (loopback): a short arrow
                x1 -= 60
                x2 += 60
            } else {
                x1 += x1 < x2 ? 40 : -40
                x2 += x1 < x2 ? -40 : 40
            }
            let color = f.opened ? "#b00020" : "#333"
            s += "<line x1=\"\(x1)\" y1=\"\(y)\" x2=\"\(x2)\" y2=\"\(y)\" stroke=\"\(color)\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>\n"
            let mid = (x1 + x2) / 2
            s += "<text x=\"\(mid)\" y=\"\(y - 8)\" text-anchor=\"middle\">\(escape("\(f.proto.rawValue.uppercased()) \(f.portText) — \(f.purpose)"))</text>\n"
            s += "<text x=\"\(mid)\" y=\"\(y + 16)\" text-anchor=\"middle\" fill=\"#555\">\(escape("\(f.from) → \(f.to); \(f.protection)"))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
