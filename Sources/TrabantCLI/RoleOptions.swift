import ArgumentParser
import Foundation
import Logging
import PKI
import TrabantConfig

/// Options every role subcommand takes.
struct RoleOptions: ParsableArguments {
    @Option(help: "YAML configuration file (environment variables TRABANT_<SECTION>__<KEY> override it).")
    var config: String?

    @Option(help: "Directory for state and keys (created with mode 0700).")
    var dataDir: String = "./trabant-data"

    @Option(help: "Log line format on stderr: text or json (overrides log.format).")
    var logFormat: LogFormat?

    @Flag(help: "Validate the configuration, print the result and exit.")
    var checkConfig = false

    /// Loads and validates the configuration, or exits with the error on stderr (code 78, EX_CONFIG).
    func load<S>(_ make: (ConfigReader) throws(ConfigError) -> S, allowedKeys: Set<String>) throws -> (S, ConfigReader) {
        do {
            let reader = try ConfigReader.load(
                path: config, environment: ProcessInfo.processInfo.environment, allowedKeys: allowedKeys)
            return (try make(reader), reader)
        } catch {
            FileHandle.standardError.write(Data("trabant: configuration error: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }

    /// Creates the data directory (0700) or exits with a clear message.
    func prepareDataDir() throws {
        do {
            try FileManager.default.createDirectory(
                atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard FileManager.default.isWritableFile(atPath: dataDir) else {
                throw CocoaError(.fileWriteNoPermission)
            }
        } catch {
            FileHandle.standardError.write(Data("trabant: data directory '\(dataDir)' is not usable: \(error.localizedDescription)\n".utf8))
            throw ExitCode(73)
        }
    }
}

extension RoleOptions {
    /// The role's own key and certificate in the data directory, made on first start.
    func identity(role: String, logger: Logger) throws -> Identity {
        do {
            let (identity, created) = try IdentityStore(directory: dataDir).loadOrCreate(role: role)
            logger.info(
                created ? "made the \(role)'s identity" : "\(role) identity loaded",
                metadata: [
                    "identity.fingerprint": "\(identity.fingerprint)", "identity.code": "\(identity.fingerprint.shortCode)",
                ])
            return identity
        } catch {
            FileHandle.standardError.write(Data("trabant: identity: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

extension LogFormat: ExpressibleByArgument {}
