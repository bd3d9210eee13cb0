import Foundation
import Testing

@Suite("CLI: ports and firewall render")
struct PortsCLITests {
    static var example: String { TrabantBinary.repositoryRoot.appendingPathComponent("examples/satellite.yaml").path }

    @Test func portsInEveryFormatFromTheExample() throws {
        for format in ["table", "markdown", "csv", "svg"] {
            let r = try TrabantBinary.run(["ports", "--config", Self.example, "--format", format])
            #expect(r.status == 0, "\(format): \(r.stderr)")
            #expect(r.stdout.contains("3280"), "\(format)")
            #expect(r.stdout.contains("10.0.1.5"), "\(format)")
        }
        let md = try TrabantBinary.run(["ports", "--config", Self.example, "--format", "markdown"])
        #expect(md.stdout.hasPrefix("| from | to | protocol | port |"))
        let bad = try TrabantBinary.run(["ports", "--config", Self.example, "--format", "pdf"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("table") && bad.stderr.contains("svg"), "\(bad.stderr)")
    }

    @Test func renderNeedsTheServerAndSaysSo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-fw-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "firewall:\n  backend: nftables\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try TrabantBinary.run(["firewall", "render", "--config", file.path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("firewall.server"), "\(r.stderr)")
        let ok = try TrabantBinary.run(["firewall", "render", "--config", Self.example, "--backend", "iptables", "--family", "ipv6"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("*filter"))
    }
}
