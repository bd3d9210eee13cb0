import Testing

@testable import TrabantConfig

@Suite("Configuration: YAML, environment overrides, clear errors")
struct ConfigReaderTests {
    let keys = SatelliteSettings.allowedKeys

    @Test func defaultsWithoutAFile() throws {
        let s = try SatelliteSettings(ConfigReader(yaml: "", allowedKeys: keys))
        #expect(s.media.portRange == 40000...49999)
        #expect(s.media.inactivityTimeout == 60)
        #expect(s.log.format == .text)
    }

    @Test func valuesWithUnits() throws {
        let yaml = """
            media:
              bind: "::"
              port_range: 30000-30999
              inactivity_timeout: 90s
              max_call_duration: 2h
              port_quarantine: 500ms
              threads: 3
            log:
              format: json
              level: debug
            """
        let s = try SatelliteSettings(ConfigReader(yaml: yaml, file: "s.yaml", allowedKeys: keys))
        #expect(s.media.bindHost == "::")
        #expect(s.media.portRange == 30000...30999)
        #expect(s.media.inactivityTimeout == 90)
        #expect(s.media.maxCallDuration == 7200)
        #expect(s.media.portQuarantine == 0.5)
        #expect(s.media.threads == 3)
        #expect(s.log.format == .json)
        #expect(s.log.level == .debug)
    }

    @Test func plainRTPIsOffByDefaultAndTakesListedNetworks() throws {
        let off = try SatelliteSettings(ConfigReader(yaml: "", allowedKeys: keys))
        #expect(off.sip.core.plainRTPNetworks.isEmpty)
        let yaml = "sip:\n  plain_rtp_networks: [10.20.0.0/24, \"2001:db8:20::/48\"]\n"
        let on = try SatelliteSettings(ConfigReader(yaml: yaml, file: "s.yaml", allowedKeys: keys))
        #expect(on.sip.core.plainRTPNetworks.map(\.description) == ["10.20.0.0/24", "2001:db8:20::/48"])
        #expect(on.sip.acl.map(\.description) == ["127.0.0.1/32", "::1/128"], "the ACL is separate")
    }

    @Test func environmentOverridesTheFile() throws {
        let r = try ConfigReader(
            yaml: "media:\n  port_range: 30000-30999\n", file: "s.yaml",
            environment: ["TRABANT_MEDIA__PORT_RANGE": "31000-31099", "TRABANT_LOG__FORMAT": "json", "HOME": "/x"],
            allowedKeys: keys)
        let s = try SatelliteSettings(r)
        #expect(s.media.portRange == 31000...31099)
        #expect(s.log.format == .json)
        #expect(r.overridden == ["log.format", "media.port_range"])
    }

    static let bad: [(String, String, [String])] = [
        ("media:\n  prot_range: 1-2\n", "unknown key", ["s.yaml:2", "media.prot_range", "media.port_range"]),
        ("media:\n  port_range: 50000-40000\n", "reversed range", ["media.port_range", "'50000-40000'", "1024 <= LOW < HIGH"]),
        ("media:\n  port_range: 80-90\n", "privileged ports", ["media.port_range", "1024"]),
        ("media:\n  inactivity_timeout: soon\n", "not a duration", ["media.inactivity_timeout", "'soon'", "ms, s, m or h"]),
        ("media:\n  threads: 0\n", "zero threads", ["media.threads", "1...256"]),
        ("media:\n  bind: relay.example.com\n", "host name", ["media.bind", "IPv4 or IPv6"]),
        ("log:\n  format: xml\n", "unknown format", ["log.format", "'xml'", "text, json"]),
        ("media:\n  port_range: [1, 2]\n", "list for a value", ["media.port_range", "single value"]),
        ("media: [\n", "broken YAML", ["s.yaml", "not valid YAML"]),
        ("media:\n  bind: 1.2.3.4\n  bind: 1.2.3.5\n", "duplicate key", ["s.yaml", "duplicate", "bind"]),
        ("- a\n- b\n", "top level list", ["top level must be a mapping"]),
        ("sip:\n  plain_rtp_networks: [10.0.0.0/33]\n", "bad plain network", ["s.yaml:2", "sip.plain_rtp_networks", "33"]),
        ("sip:\n  acl: [lan]\n", "bad ACL entry", ["sip.acl", "'lan'"]),
    ]

    @Test(arguments: bad)
    func badConfigurationNamesFileKeyAndWhatIsAllowed(yaml: String, what: String, mentions: [String]) {
        do {
            _ = try SatelliteSettings(ConfigReader(yaml: yaml, file: "s.yaml", allowedKeys: keys))
            Issue.record("\(what) was accepted")
        } catch {
            for m in mentions { #expect(error.description.contains(m), "\(what): '\(error)' lacks '\(m)'") }
        }
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        do {
            _ = try SatelliteSettings(
                ConfigReader(yaml: "", environment: ["TRABANT_MEDIA__THREADS": "many"], allowedKeys: keys))
            Issue.record("accepted threads=many")
        } catch {
            #expect(error.description.contains("TRABANT_MEDIA__THREADS"))
            #expect(error.description.contains("'many'"))
        }
    }

    @Test func missingFileIsAClearError() {
        do {
            _ = try ConfigReader.load(path: "/nonexistent/trabant.yaml", environment: [:], allowedKeys: keys)
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.description.contains("/nonexistent/trabant.yaml"))
            #expect(error.description.contains("cannot read"))
        }
    }
}
