extension SRTPDropReason: Error {}

/// Convenience forms on byte arrays (tests, tools, the client SDK's slow paths). They copy;
/// the relay uses the in-place forms.
extension SRTPContext {
    /// Largest expansion a protect adds: SRTCP index + AEAD tag.
    public static let maxOverhead = 4 + 16

    public func protectRTP(_ packet: [UInt8]) -> Result<[UInt8], SRTPDropReason> {
        transform(packet, protectRTP)
    }

    public func unprotectRTP(_ packet: [UInt8]) -> Result<[UInt8], SRTPDropReason> {
        transform(packet, unprotectRTP)
    }

    public func protectRTCP(_ packet: [UInt8]) -> Result<[UInt8], SRTPDropReason> {
        transform(packet, protectRTCP)
    }

    public func unprotectRTCP(_ packet: [UInt8]) -> Result<[UInt8], SRTPDropReason> {
        transform(packet, unprotectRTCP)
    }

    private func transform(
        _ packet: [UInt8], _ body: (UnsafeMutableRawBufferPointer, Int) -> SRTPResult
    ) -> Result<[UInt8], SRTPDropReason> {
        var buffer = packet + [UInt8](repeating: 0, count: Self.maxOverhead)
        let result = buffer.withUnsafeMutableBytes { body($0, packet.count) }
        switch result {
        case .ok(let length): return .success(Array(buffer[0..<length]))
        case .dropped(let reason): return .failure(reason)
        }
    }
}
