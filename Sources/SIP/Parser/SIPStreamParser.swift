/// Incremental SIP parser for stream transports (TCP, TLS): feed bytes as they arrive, take
/// complete messages out. Framing is by Content-Length, which RFC 3261 §18.3 makes mandatory
/// on streams. No I/O: bytes in, messages or a typed error out. After an error the stream
/// cannot be resynchronised and the connection should be closed.
public struct SIPStreamParser: Sendable {
    public struct Limits: Sendable {
        /// Whole message, headers and body (the satellite's limit: 64 KiB).
        public var maximumMessageSize = 65536
        public var maximumHeaders = 128
        public var maximumLineLength = 8192

        public init() {}
    }

    public let limits: Limits
    private var buffer: [UInt8] = []
    private var start = 0
    /// Keep-alive CRLFs seen between messages (RFC 5626 §4.4.1 double-CRLF ping).
    public private(set) var keepAlives = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Bytes received and not yet consumed by a message.
    public var bufferedBytes: Int { buffer.count - start }

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, nil if more bytes are needed.
    public mutating func next() throws(SIPParseError) -> SIPMessage? {
        // Skip CRLFs between messages (keep-alives).
        while start + 1 < buffer.count && buffer[start] == 13 && buffer[start + 1] == 10 {
            start += 2
            keepAlives += 1
        }
        guard start < buffer.count else { return nil }
        // Find the end of the header block.
        guard let headerEnd = findHeaderEnd() else {
            if bufferedBytes > limits.maximumMessageSize {
                throw SIPParseError(.messageTooLarge, "SIP header block exceeds \(limits.maximumMessageSize) bytes")
            }
            return nil
        }
        let headerBytes = Array(buffer[start..<headerEnd.headersEnd])
        if headerBytes.contains(where: { $0 >= 0x80 }), String(validating: headerBytes, as: UTF8.self) == nil {
            throw SIPParseError(.malformedHeader, "SIP headers are not valid UTF-8")
        }
        var lines = Self.unfold(headerBytes)
        guard !lines.isEmpty else { throw SIPParseError(.malformedStartLine, "empty SIP message") }
        for l in lines where l.count > limits.maximumLineLength {
            throw SIPParseError(.lineTooLong, "a SIP header line exceeds \(limits.maximumLineLength) bytes")
        }
        let startLine = try Self.parseStartLine(lines.removeFirst())
        guard lines.count <= limits.maximumHeaders else {
            throw SIPParseError(.tooManyHeaders, "SIP message has \(lines.count) headers; at most \(limits.maximumHeaders)")
        }
        var headers: [SIPMessage.Header] = []
        headers.reserveCapacity(lines.count)
        for line in lines {
            guard let colon = Bytes.firstIndex(of: UInt8(ascii: ":"), in: line, 0..<line.count) else {
                throw SIPParseError(.malformedHeader, "SIP header line without ':': '\(String(decoding: line.prefix(60), as: UTF8.self))'")
            }
            var nameEnd = colon
            while nameEnd > 0 && Bytes.isWhitespace(line[nameEnd - 1]) { nameEnd -= 1 }
            guard nameEnd > 0, line[0..<nameEnd].allSatisfy(Bytes.isToken) else {
                throw SIPParseError(
                    .malformedHeader, "SIP header name '\(String(decoding: line[0..<nameEnd].prefix(60), as: UTF8.self))' is not a token")
            }
            let value = Bytes.trimmed(line, (colon + 1)..<line.count)
            headers.append(.init(Bytes.string(line, 0..<nameEnd), Bytes.string(line, value)))
        }
        let lengths = headers.filter { $0.key == "content-length" }.map(\.value)
        guard let lengthText = lengths.first else {
            throw SIPParseError(.missingContentLength, "SIP message over a stream without Content-Length (RFC 3261 §18.3)")
        }
        guard Set(lengths).count == 1, let length = Int(lengthText), length >= 0 else {
            throw SIPParseError(.badContentLength, "Content-Length '\(lengthText.prefix(20))' is not one non-negative number")
        }
        let total = headerEnd.bodyStart - start + length
        guard total <= limits.maximumMessageSize else {
            throw SIPParseError(.messageTooLarge, "SIP message of \(total) bytes exceeds \(limits.maximumMessageSize)")
        }
        guard buffer.count >= headerEnd.bodyStart + length else { return nil }
        let body = Array(buffer[headerEnd.bodyStart..<(headerEnd.bodyStart + length)])
        start = headerEnd.bodyStart + length
        if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        var message = SIPMessage(startLine: startLine, headers: headers, body: body)
        message.parseEssentials()
        return message
    }

    /// The end of the headers ("\r\n\r\n", or bare "\n\n" which RFC 4475 §3.1.1.1 tolerates).
    private func findHeaderEnd() -> (headersEnd: Int, bodyStart: Int)? {
        var i = start
        let limit = min(buffer.count, start + limits.maximumMessageSize + 4)
        while i < limit {
            if buffer[i] == 10 {
                if i + 1 < buffer.count && buffer[i + 1] == 10 { return (i, i + 2) }
                if i + 2 < buffer.count && buffer[i + 1] == 13 && buffer[i + 2] == 10 { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }

    /// Splits the header block into lines (LF or CRLF) and joins folded continuation lines
    /// (RFC 3261 §7.3.1): a line starting with SP/HTAB continues the previous one.
    static func unfold(_ b: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for raw in Bytes.split(b, 0..<b.count, on: 10) {
            var line = raw
            if !line.isEmpty && b[line.upperBound - 1] == 13 { line = line.lowerBound..<(line.upperBound - 1) }
            if !line.isEmpty, Bytes.isWhitespace(b[line.lowerBound]), !out.isEmpty {
                out[out.count - 1].append(Bytes.space)
                out[out.count - 1].append(contentsOf: b[Bytes.trimmed(b, line)])
            } else {
                out.append(Array(b[line]))
            }
        }
        return out
    }

    /// `Method SP Request-URI SP SIP/2.0` or `SIP/2.0 SP Status-Code SP Reason-Phrase` (§7.1, §7.2).
    static func parseStartLine(_ b: [UInt8]) throws(SIPParseError) -> SIPMessage.StartLine {
        func text() -> String { String(decoding: b.prefix(80), as: UTF8.self) }
        guard let sp1 = Bytes.firstIndex(of: Bytes.space, in: b, 0..<b.count),
            let sp2 = Bytes.firstIndex(of: Bytes.space, in: b, (sp1 + 1)..<b.count)
        else {
            throw SIPParseError(.malformedStartLine, "SIP start line '\(text())' does not have three parts")
        }
        let first = 0..<sp1
        let second = (sp1 + 1)..<sp2
        let third = (sp2 + 1)..<b.count
        let sipSlash: [UInt8] = Array("SIP/".utf8)
        let version: [UInt8] = Array("SIP/2.0".utf8)
        if b[first].starts(with: sipSlash) {
            guard b[first].elementsEqual(version) else {
                throw SIPParseError(.unsupportedVersion, "SIP version '\(Bytes.string(b, first))' is not supported; only SIP/2.0")
            }
            guard second.count == 3, let status = Bytes.number(b, second, maxDigits: 3), (100...699).contains(status) else {
                throw SIPParseError(.malformedStartLine, "SIP status '\(Bytes.string(b, second).prefix(20))' is not in 100...699")
            }
            return .response(status: status, reason: Bytes.string(b, third))
        }
        guard !first.isEmpty, b[first].allSatisfy(Bytes.isToken) else {
            throw SIPParseError(.malformedStartLine, "SIP method '\(Bytes.string(b, first).prefix(40))' is not a token")
        }
        guard !second.isEmpty, !b[second].contains(where: Bytes.isWhitespace) else {
            throw SIPParseError(.malformedStartLine, "SIP request-URI is empty")
        }
        guard b[third].starts(with: sipSlash) else {
            throw SIPParseError(.malformedStartLine, "SIP request line must end in SIP/2.0")
        }
        guard b[third].elementsEqual(version) else {
            throw SIPParseError(.unsupportedVersion, "SIP version '\(Bytes.string(b, third).prefix(20))' is not supported; only SIP/2.0")
        }
        return .request(method: Bytes.string(b, first), uri: Bytes.string(b, second))
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return Substring(s)
    }
}
