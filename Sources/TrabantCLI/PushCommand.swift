import ArgumentParser
import Foundation
import Logging
import NIOSSL
import PKI
import Push
import PushPayload
import TrabantConfig

/// `trabant push`: the server's side of push — a test push from the command line, and the
/// key to register at the push relay.
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Push notifications: send a test push; show the key the push relay must know.",
        subcommands: [PushSendCommand.self, PushKeyCommand.self])
}

struct PushSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one test push with the server's push: configuration (directly, through the proxy or the push relay).",
        discussion: """
            The notice is sealed to the device's push key (as the app registered it); Apple, Google, the proxy \
            and the relay see only ciphertext. Exit status: 0 delivered, 1 not delivered (the outcome is printed), \
            78 configuration error.
            """)

    @OptionGroup var options: RoleOptions

    @Option(help: "apns or fcm.") var provider: String
    @Option(help: "The device's push token (APNs: hex; FCM: the registration token).") var token: String
    @Option(help: "APNs push type: voip or alert.") var type: String = "voip"
    @Option(help: "call or cancel.") var kind: String = "call"
    @Option(help: "The device's push key id.") var deviceKeyID: String
    @Option(help: "The device's push key: 32-byte X25519 public key in base64url (use --device-key=VALUE if it starts with '-').")
    var deviceKey: String
    @Option(help: "Who calls, as the phone shows it.") var caller: String = "Trabant test push"
    @Option(help: "The gateway URL the app connects to.") var gateway: String = "wss://gateway.invalid"
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        var identity: Identity?
        let (settings, _) = try options.load({ r throws(ConfigError) -> PushSettings in
            var pair: (NIOSSLCertificate, NIOSSLPrivateKey)?
            if try r.optionalString("push.relay.url") != nil {
                do {
                    let id = try IdentityStore(directory: options.dataDir).loadOrCreate(role: "server").identity
                    identity = id
                    pair = (try id.nioCertificate(), try id.nioPrivateKey())
                } catch {
                    throw r.invalid("push.relay.url", "this server's identity in \(options.dataDir) cannot be used: \(error)")
                }
            }
            return try PushConfig.settings(r, relayIdentity: pair)
        }, allowedKeys: PushConfig.serverKeys.union(LogSettings.allowedKeys))
        if options.checkConfig {
            print("configuration OK")
            return
        }
        StderrLogHandler.bootstrap(format: options.logFormat ?? .text, level: .error)
        let target: PushTarget
        switch provider {
        case "apns":
            guard let t = APNsRequest.PushType(rawValue: type) else { throw ValidationError("--type: voip or alert, not '\(type)'") }
            guard settings.apns != nil || settings.relay != nil else { throw ValidationError("--provider apns: push.apns is not configured") }
            target = .apns(token: token, type: t)
        case "fcm":
            guard settings.fcm != nil || settings.relay != nil else { throw ValidationError("--provider fcm: push.fcm is not configured") }
            target = .fcm(token: token)
        default: throw ValidationError("--provider: apns or fcm, not '\(provider)'")
        }
        guard let k = CallNotice.Kind(rawValue: kind) else { throw ValidationError("--kind: call or cancel, not '\(kind)'") }
        let key: DevicePushKey
        do {
            key = try DevicePushKey(id: deviceKeyID, base64url: deviceKey)
        } catch {
            throw ValidationError("--device-key-id/--device-key: \(error.message)")
        }
        // The APNs token is kept in the data directory: test pushes in a row reuse it (APNs
        // refuses renewals within 20 minutes).
        try options.prepareDataDir()
        var withState = settings
        withState.stateDirectory = options.dataDir
        let sender = try PushSender(settings: withState)
        let notice = CallNotice(
            kind: k, callID: "test-" + UUID().uuidString.prefix(8).lowercased(), caller: caller, gateway: gateway,
            sentAt: Date().timeIntervalSince1970)
        let result = await sender.send(notice, to: target, key: key)
        try await sender.shutdown()
        let answer = RelayAnswer(result.outcome)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            struct Out: Encodable {
                let outcome: RelayAnswer
                let attempts: Int
                let call_id: String
                let via: String
            }
            let via = settings.relay != nil ? "relay" : settings.proxy != nil ? "proxy" : "direct"
            print(String(decoding: try encoder.encode(Out(outcome: answer, attempts: result.attempts, call_id: notice.callID, via: via)), as: UTF8.self))
        } else {
            print("\(answer.outcome)\(answer.reason.map { ": \($0)" } ?? "") (\(result.attempts) attempt\(result.attempts == 1 ? "" : "s"), call id \(notice.callID))")
            if let identity, result.outcome != .delivered {
                print("this server's key: \(identity.fingerprint)")
            }
        }
        if result.outcome != .delivered { throw ExitCode(1) }
    }
}

/// The server's identity as the push relay's `add-server` takes it.
struct PushKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Show this server's key, for 'trabant push-relay add-server --fingerprint' at the relay.")

    @Option(help: "This server's data directory.") var dataDir: String = "./trabant-data"
    @Flag(help: "Make the server's identity if the data directory has none yet.") var create = false

    func run() throws {
        do {
            let store = IdentityStore(directory: dataDir)
            guard let identity = try create ? store.loadOrCreate(role: "server").identity : store.load() else {
                FileHandle.standardError.write(Data(
                    "trabant: no server identity in '\(dataDir)' (wrong --data-dir? add --create to make one for a new server)\n".utf8))
                throw ExitCode(1)
            }
            print(identity.fingerprint)
        } catch let e as PKIError {
            FileHandle.standardError.write(Data("trabant: identity: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
