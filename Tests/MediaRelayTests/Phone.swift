import Demo
import MediaRelay
import SRTP

/// A test peer: a UDP socket with its own SRTP keys (what it protects with) and, once the
/// relay answered, the relay's keys for it (what it unprotects with).
final class Phone: @unchecked Sendable {  // used by one thread at a time in each test
    let socket: UDPEndpoint
    let keys: SRTPParameters
    let tx: SRTPContext
    var rx: SRTPContext?
    var relayAddress: MediaAddress?
    var seq: UInt16
    let ssrc: UInt32

    init(profile: SRTPProfile = .aesCM128HmacSHA1_80, ssrc: UInt32, seq: UInt16 = 1000) throws {
        socket = try UDPEndpoint()
        keys = SRTPParameters.random(profile)
        tx = try SRTPContext(profile: profile, keyingMaterial: keys.keyingMaterial)
        self.ssrc = ssrc
        self.seq = seq
    }

    /// Moves the phone to a new socket (Wi-Fi to LTE) keeping its keys and stream.
    init(movedFrom other: Phone) throws {
        socket = try UDPEndpoint()
        keys = other.keys
        tx = other.tx
        rx = other.rx
        relayAddress = other.relayAddress
        seq = other.seq
        ssrc = other.ssrc
    }

    func connect(_ leg: LegInfo) throws {
        relayAddress = leg.local
        rx = try SRTPContext(profile: leg.localCrypto!.profile, keyingMaterial: leg.localCrypto!.keyingMaterial)
    }

    func request(_ name: String, mux: Bool = true) -> LegRequest {
        LegRequest(name: name, remote: socket.local, rtcpMux: mux, remoteCrypto: keys)
    }

    static func payload(_ seq: UInt16, _ ssrc: UInt32) -> [UInt8] {
        (0..<160).map { UInt8(truncatingIfNeeded: Int(seq) &* 3 &+ Int(ssrc) &+ $0) }
    }

    static func rtp(seq: UInt16, ssrc: UInt32, payloadType: UInt8 = 0, payload: [UInt8]? = nil) -> [UInt8] {
        [0x80, payloadType, UInt8(seq >> 8), UInt8(seq & 0xFF)]
            + be32(UInt32(seq) &* 160) + be32(ssrc) + (payload ?? Self.payload(seq, ssrc))
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// Sends the next RTP packet; returns its plaintext.
    @discardableResult
    func sendRTP(payloadType: UInt8 = 0, payload: [UInt8]? = nil, to: MediaAddress? = nil) throws -> [UInt8] {
        seq &+= 1
        let plain = Self.rtp(seq: seq, ssrc: ssrc, payloadType: payloadType, payload: payload)
        socket.send(try tx.protectRTP(plain).get(), to: to ?? relayAddress!)
        return plain
    }

    /// Sends an RTCP sender report; returns its plaintext.
    @discardableResult
    func sendRTCP(to: MediaAddress? = nil) throws -> [UInt8] {
        let plain: [UInt8] = [0x80, 200, 0, 6] + Self.be32(ssrc) + [UInt8](repeating: 7, count: 20)
        socket.send(try tx.protectRTCP(plain).get(), to: to ?? relayAddress!)
        return plain
    }

    /// Receives and unprotects everything that arrives (RTP and RTCP), with the relay's keys.
    func receiveAll(timeout: Double = 0.3) async -> (rtp: [[UInt8]], rtcp: [[UInt8]], undecryptable: Int) {
        var rtp: [[UInt8]] = []
        var rtcp: [[UInt8]] = []
        var bad = 0
        for packet in await socket.drain(timeout: timeout) {
            let isRTCP = packet.count > 1 && (64...95).contains(packet[1] & 0x7F)
            let r = isRTCP ? rx!.unprotectRTCP(packet) : rx!.unprotectRTP(packet)
            switch r {
            case .success(let p): if isRTCP { rtcp.append(p) } else { rtp.append(p) }
            case .failure: bad += 1
            }
        }
        return (rtp, rtcp, bad)
    }
}

/// Each test gets its own port range so that parallel tests never meet.
enum TestPorts {
    static func range(_ slot: Int) -> ClosedRange<UInt16> {
        // 61000-63999: above Linux's ephemeral range (32768-60999); the CLI tests use 64000-64999
        let base = UInt16(61000 + slot * 100)
        return base...(base + 99)
    }

    static func openIn(_ range: ClosedRange<UInt16>) -> Set<UInt16> {
        OpenUDPPorts.current().filter { range.contains($0) }
    }
}
