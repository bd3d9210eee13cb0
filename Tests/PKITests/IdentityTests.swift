import Foundation
import Testing
import X509

@testable import PKI

@Suite("PKI: identities on disk")
struct IdentityTests {
    static func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("trabant-pki-\(UUID().uuidString)").path + "/data"
    }

    static func mode(_ path: String) -> Int {
        var st = stat()
        stat(path, &st)
        return Int(st.st_mode & 0o777)
    }

    @Test func firstStartMakesAPrivateIdentityAndTheNextLoadsIt() throws {
        let dir = Self.tempDir()
        let store = IdentityStore(directory: dir)
        let (made, created) = try store.loadOrCreate(role: "satellite")
        #expect(created)
        #expect(Self.mode(store.keyPath) == 0o600)
        #expect(Self.mode(store.certificatePath) == 0o600)
        #expect(Self.mode(dir) == 0o700)
        #expect(made.certificate.subject.description.contains("trabant satellite \(made.fingerprint.shortCode)"))
        #expect(made.certificate.issuer == made.certificate.subject, "self-signed")
        let san = try made.certificate.extensions.subjectAlternativeNames
        #expect(san?.contains(.dnsName("satellite.trabant.invalid")) == true)

        let (loaded, again) = try store.loadOrCreate(role: "satellite")
        #expect(!again)
        #expect(loaded.fingerprint == made.fingerprint)
        #expect(loaded.certificatePEM == made.certificatePEM)
        // Two roles, two keys.
        let other = try IdentityStore(directory: Self.tempDir()).loadOrCreate(role: "server").identity
        #expect(other.fingerprint != made.fingerprint)
    }

    /// The fingerprint is what OpenSSL computes over the certificate's DER SubjectPublicKeyInfo.
    @Test func fingerprintMatchesOpenSSL() throws {
        let dir = Self.tempDir()
        let store = IdentityStore(directory: dir)
        let identity = try store.loadOrCreate(role: "satellite").identity
        let sh = "openssl x509 -in '\(store.certificatePath)' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", sh]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0)
        #expect(text.hasPrefix(identity.fingerprint.hex), "openssl: \(text)")
        // And openssl verifies the self-signature.
        let v = Process()
        v.executableURL = URL(fileURLWithPath: "/bin/sh")
        v.arguments = ["-c", "openssl verify -CAfile '\(store.certificatePath)' '\(store.certificatePath)'"]
        try v.run()
        v.waitUntilExit()
        #expect(v.terminationStatus == 0)
    }

    @Test func aKeyOthersCanReadIsRefused() throws {
        let store = IdentityStore(directory: Self.tempDir())
        _ = try store.loadOrCreate(role: "satellite")
        chmod(store.keyPath, 0o644)
        let error = #expect(throws: PKIError.self) { try store.load() }
        #expect(error?.code == .insecurePermissions)
        #expect(error?.message.contains(store.keyPath) == true)
        #expect(error?.message.contains("chmod 600") == true)
        chmod(store.keyPath, 0o400)
        #expect(try store.load() != nil, "read-only for the owner is fine")
    }

    @Test func halfAnIdentityOrAForeignKeyIsAClearError() throws {
        let store = IdentityStore(directory: Self.tempDir())
        let first = try store.loadOrCreate(role: "satellite").identity
        // A key that is not the certificate's.
        let other = try Identity.generate(role: "satellite")
        try IdentityStore.writePrivate(other.privateKeyPEM, to: store.keyPath)
        let mismatch = #expect(throws: PKIError.self) { try store.load() }
        #expect(mismatch?.message.contains("does not belong to the certificate") == true)
        // Garbage instead of a key.
        try IdentityStore.writePrivate("not a key", to: store.keyPath)
        let garbage = #expect(throws: PKIError.self) { try store.load() }
        #expect(garbage?.code == .badKey)
        // The certificate gone: refused, nothing is overwritten.
        try IdentityStore.writePrivate(first.privateKeyPEM, to: store.keyPath)
        try FileManager.default.removeItem(atPath: store.certificatePath)
        let half = #expect(throws: PKIError.self) { try store.loadOrCreate(role: "satellite") }
        #expect(half?.message.contains("is missing") == true)
        #expect(try IdentityStore.read(store.keyPath) == first.privateKeyPEM)
    }
}
