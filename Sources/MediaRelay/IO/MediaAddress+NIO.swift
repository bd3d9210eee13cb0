import NIOCore

extension MediaAddress {
    /// From a NIO socket address (nil for Unix sockets).
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let a):
            let raw = UInt32(bigEndian: a.address.sin_addr.s_addr)
            self.init(
                ipv4: (UInt8(raw >> 24), UInt8((raw >> 16) & 0xFF), UInt8((raw >> 8) & 0xFF), UInt8(raw & 0xFF)),
                port: UInt16(bigEndian: a.address.sin_port))
        case .v6(let a):
            var s6 = a.address.sin6_addr
            let bytes = withUnsafeBytes(of: &s6) { Array($0) }
            self.init(ipv6: bytes, port: UInt16(bigEndian: a.address.sin6_port))
        default:
            return nil
        }
    }

    /// As a NIO socket address.
    public var socketAddress: SocketAddress {
        // Both forms are valid literals by construction.
        try! SocketAddress(ipAddress: host, port: Int(port))
    }
}
