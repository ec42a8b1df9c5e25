import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS
import PaddingtonCrypto

/// TLS under HTTP, for both roles: contexts from PEM files, the handler that goes first in a
/// connection's pipeline, and the classification of TLS failures into precise errors.
///
/// TLS is only a layer: the upgrade request, the handshake of protocol 1 or 2 and every frame above it
/// are the same bytes as on a plain `ws://` connection.
package enum TLSSetup {
    // MARK: Files

    /// The certificates of a PEM file (a chain: the leaf first; or the CAs to trust).
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming `field` and the path: the file
    ///   does not exist, cannot be read, or holds no PEM certificate.
    static func certificates(at path: String, field: String, source: String) throws -> [NIOSSLCertificate] {
        try checkFile(path, field: field, source: source)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw fail(source, field, "names '\(path)', which is not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else {
            throw fail(source, field, "names '\(path)', which holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// The leaf (first) certificate of a PEM chain: the names it is for, and when it is valid.
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` as ``certificates(at:field:source:)``.
    /// `covers` says whether it is for `host` (a name, or an address in its subject alternative names).
    package static func leaf(at path: String, field: String, source: String, host: String)
        throws -> (names: [String], notBefore: Date, notAfter: Date, covers: Bool)
    {
        let chain = try certificates(at: path, field: field, source: source)
        let leaf = chain[0]
        let names = names(of: leaf)
        let covers = IPAddress(host).map { address in names.contains { IPAddress($0) == address } } ?? certificate(leaf, isFor: host)
        return (names, Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore)),
                Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)), covers)
    }

    /// The private key of a PEM file.
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming `field` and the path. The message
    ///   never contains the key.
    static func privateKey(at path: String, field: String, source: String) throws -> NIOSSLPrivateKey {
        try checkFile(path, field: field, source: source)
        do {
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch {
            throw fail(source, field, "names '\(path)', which is not a PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
    }

    private static func checkFile(_ path: String, field: String, source: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail(source, field, "names '\(path)', which does not exist")
        }
        guard !isDirectory.boolValue else { throw fail(source, field, "names '\(path)', which is a folder, not a PEM file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw fail(source, field, "names '\(path)', which cannot be read (check its mode and owner)")
        }
    }

    private static func fail(_ source: String, _ field: String, _ what: String) -> PaddingtonError {
        PaddingtonError(.invalidConfiguration, "\(source): field '\(field)' \(what)")
    }

    // MARK: Contexts

    /// The listener's context when the configuration names a certificate chain and a key, else nil.
    /// TLS 1.2 and 1.3; no client certificates asked for.
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming `tls_certificate` or `tls_key`.
    static func serverContext(for configuration: ServiceConfiguration, source: String = "the service configuration") throws
        -> NIOSSLContext?
    {
        guard let certificatePath = configuration.tlsCertificate, let keyPath = configuration.tlsKey else {
            if configuration.tlsCertificate != nil { throw fail(source, "tls_key", "is missing: tls_certificate needs its private key") }
            if configuration.tlsKey != nil { throw fail(source, "tls_certificate", "is missing: tls_key needs its certificate chain") }
            return nil
        }
        let chain = try certificates(at: certificatePath, field: "tls_certificate", source: source)
        let key = try privateKey(at: keyPath, field: "tls_key", source: source)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.maximumTLSVersion = .tlsv13
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw fail(source, "tls_key", "names '\(keyPath)', whose key does not match the certificate in '\(certificatePath)' (\(error))")
        }
    }

    /// The dialler's context for one `wss://` server: the CAs of `caPath`, or the system's roots when
    /// nil; full verification (chain, dates and the URL's host).
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming `field`.
    static func clientContext(caPath: String?, field: String, source: String = "the service configuration") throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.maximumTLSVersion = .tlsv13
        tls.certificateVerification = .fullVerification
        if let caPath {
            tls.trustRoots = .certificates(try certificates(at: caPath, field: field, source: source))
        } else {
            tls.trustRoots = .default
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw PaddingtonError(.tls, "cannot set up TLS with \(caPath.map { "the CAs in '\($0)'" } ?? "the system's roots")", cause: error)
        }
    }

    // MARK: The server side

    /// Puts the TLS server handler first in an accepted connection's pipeline.
    static func addServerHandler(to channel: any Channel, context: NIOSSLContext) throws {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }

    /// What a TLS failure on an accepted connection means, or nil when `error` is not one.
    static func serverFailure(_ error: (any Error)?) -> PaddingtonError? {
        guard let error else { return nil }
        if let ssl = error as? NIOSSLError {
            switch ssl {
            case .handshakeFailed(let inner):
                let text = "\(inner)"
                if text.contains("HTTP_REQUEST") || text.contains("HTTPS_PROXY_REQUEST") {
                    return PaddingtonError(.tls, "a plain (non-TLS) client sent HTTP to this TLS port; it must dial wss://", cause: error)
                }
                if text.contains("WRONG_VERSION_NUMBER") || text.contains("UNKNOWN_PROTOCOL") || text.contains("RECORD_TOO_LARGE") {
                    return PaddingtonError(.tls, "the client does not speak TLS (its first bytes are not a TLS hello); it must dial wss://", cause: error)
                }
                if let alert = alert(in: text) {
                    return PaddingtonError(.tls, "the client refused this server's certificate (TLS alert: \(alert))", cause: error)
                }
                return PaddingtonError(.tls, "the TLS handshake failed: \(reasons(in: text))", cause: error)
            case .uncleanShutdown:
                return PaddingtonError(.tls, "the client closed the connection during the TLS handshake", cause: error)
            default:
                return PaddingtonError(.tls, "TLS failed: \(ssl)", cause: error)
            }
        }
        if error is BoringSSLError {
            return PaddingtonError(.tls, "the TLS handshake failed: \(reasons(in: "\(error)"))", cause: error)
        }
        return nil
    }

    /// What a request that is not HTTP means on a plain port: a TLS hello starts with a byte that
    /// cannot start an HTTP method (`protocolViolation`, since other bytes can do the same). Nil for other
    /// failures, and on a TLS port.
    static func plainPortFailure(_ error: any Error, isTLSPort: Bool) -> PaddingtonError? {
        guard !isTLSPort, let parse = error as? HTTPParserError, parse == .invalidMethod else { return nil }
        // protocolViolation, not tls: a scanner's random bytes look the same.
        return PaddingtonError(.protocolViolation,
            "the request does not start with an HTTP method, as when a TLS (wss://) client dials this plain ws:// port", cause: error)
    }

    // MARK: The client side

    /// One dial's TLS: the handler to put first in its pipeline, and what it saw, to explain a failure.
    final class ClientSide: Sendable {
        let context: NIOSSLContext
        let url: WebSocketURL
        /// Where the trusted CAs come from, for messages: "the system's roots" or a file.
        let trust: String
        private let seen = NIOLockedValueBox(Seen())
        /// The first TLS error of the connection.
        private let recorded = NIOLockedValueBox<(any Error)?>(nil)

        struct Seen: @unchecked Sendable {
            /// Certificates the chain check saw, with whether each passed; the last is the leaf.
            var certificates: [(certificate: NIOSSLCertificate, passed: Bool)] = []
        }

        /// The TLS side of a dial to `server`, trusting its `tls_ca`, else the service's, else the system's roots.
        init(server: ServerEntry, configuration: ServiceConfiguration) throws {
            url = server.url
            let caPath = server.tlsCA ?? configuration.tlsCA
            let field = server.tlsCA != nil ? "servers[\(server.name)@\(server.zone)].tls_ca" : "tls_ca"
            context = try TLSSetup.clientContext(caPath: caPath, field: field)
            trust = caPath.map { "the CAs in '\($0)'" } ?? "the system's roots"
        }

        /// Puts the TLS client handler first in the dialled connection's pipeline. SNI is the URL's host
        /// when it is a name (never an address); the certificate must be for that host (or address).
        func addHandler(to channel: any Channel) throws {
            let serverHostname: String? = IPAddress(url.host) == nil ? url.host : nil
            let seen = self.seen
            let handler = try Self.makeHandler(context: context, serverHostname: serverHostname) { result, certificate in
                seen.withLockedValue { $0.certificates.append((certificate, result == .certificateVerified)) }
                return result
            }
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            let guardHandler = ClientGuard(recorded: recorded, tlsHandler: handler, hostName: serverHostname)
            try channel.pipeline.syncOperations.addHandler(guardHandler, position: .after(handler))
        }

        /// NIOSSL's per-certificate callback sees the certificate at which the chain check failed (for
        /// the message), and leaves the verdict to BoringSSL. It is the only callback that does not
        /// replace the check; NIOSSL marks it deprecated in favour of those that do, so it is called
        /// through a protocol, which keeps the deprecation warning out of the build.
        private static func makeHandler(
            context: NIOSSLContext, serverHostname: String?, callback: @escaping NIOSSLVerificationCallback
        ) throws -> NIOSSLClientHandler {
            try (DeprecatedHandlerMaker.self as any HandlerMaker.Type).make(context: context, serverHostname: serverHostname, callback: callback)
        }

        /// What went wrong with TLS on this dial, or nil when nothing did (the failure is another's).
        func failure(address: String) -> PaddingtonError? {
            guard let error = recorded.withLockedValue({ $0 }) else { return nil }
            let certificates = seen.withLockedValue { $0.certificates }
            if error is HostMismatch || (error as? NIOSSLExtraError) == .failedToValidateHostname {
                let leaf = (error as? HostMismatch)?.leaf ?? certificates.last?.certificate
                let names = leaf.map { TLSSetup.names(of: $0) } ?? []
                let owner = names.isEmpty ? "no host name or address" : names.joined(separator: ", ")
                return PaddingtonError(.tls, "the certificate of \(address) is for \(owner), not \(url.host)", cause: error)
            }
            if let ssl = error as? NIOSSLError {
                switch ssl {
                case .handshakeFailed(let inner):
                    let text = "\(inner)"
                    if text.contains("CERTIFICATE_VERIFY_FAILED") {
                        return verificationFailure(address: address, certificates: certificates, cause: error)
                    }
                    if text.contains("WRONG_VERSION_NUMBER") || text.contains("UNKNOWN_PROTOCOL") || text.contains("RECORD_TOO_LARGE")
                        || text.contains("PACKET_LENGTH_TOO_LONG")
                    {
                        return PaddingtonError(.tls,
                            "\(address) does not speak TLS (it answered the TLS hello with something else): dial ws:// if it is a plain port",
                            cause: error)
                    }
                    if let alert = TLSSetup.alert(in: text) {
                        return PaddingtonError(.tls, "\(address) refused the TLS handshake (TLS alert: \(alert))", cause: error)
                    }
                    return PaddingtonError(.tls, "the TLS handshake with \(address) failed: \(TLSSetup.reasons(in: text))", cause: error)
                case .uncleanShutdown:
                    return PaddingtonError(.tls,
                        "\(address) closed the connection during the TLS handshake (a plain ws:// port, or a server that refused the hello)",
                        cause: error)
                default:
                    return PaddingtonError(.tls, "TLS with \(address) failed: \(ssl)", cause: error)
                }
            }
            return PaddingtonError(.tls, "TLS with \(address) failed", cause: error)
        }

        private func verificationFailure(
            address: String, certificates: [(certificate: NIOSSLCertificate, passed: Bool)], cause: any Error
        ) -> PaddingtonError {
            guard let failed = certificates.first(where: { !$0.passed })?.certificate ?? certificates.last?.certificate else {
                return PaddingtonError(.tls, "the certificate of \(address) is not trusted (checked against \(trust))", cause: cause)
            }
            let now = time(nil)
            let subject = TLSSetup.subject(of: failed)
            if failed.notValidAfter < now {
                return PaddingtonError(.tls,
                    "the certificate of \(address) (\(subject)) expired on \(TLSSetup.date(failed.notValidAfter))", cause: cause)
            }
            if failed.notValidBefore > now {
                return PaddingtonError(.tls,
                    "the certificate of \(address) (\(subject)) is not valid before \(TLSSetup.date(failed.notValidBefore))", cause: cause)
            }
            return PaddingtonError(.tls,
                "the certificate of \(address) (\(subject), issued by \(TLSSetup.issuer(of: failed))) is not signed by a CA "
                    + "this side trusts (\(trust))", cause: cause)
        }
    }

    /// A certificate valid for the connected address but not for the URL's host name.
    struct HostMismatch: Error, @unchecked Sendable {
        let leaf: NIOSSLCertificate?
    }

    /// Sits right after the TLS client handler: records the first TLS error, and holds the connection's
    /// writes (the upgrade request) until the server's certificate is known to be for the URL's host
    /// name. NIOSSL also accepts a certificate for the connected IP address in place of the name; a
    /// dial by name requires the name here (a DNS name in the certificate, or its common name when it
    /// has no alternative names).
    private final class ClientGuard: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        typealias OutboundIn = NIOAny
        typealias OutboundOut = NIOAny

        let recorded: NIOLockedValueBox<(any Error)?>
        let tlsHandler: NIOSSLClientHandler
        /// The host name to check, nil when the URL's host is an address (NIOSSL checks that one).
        let hostName: String?
        private var verified = false
        private var held: [(data: NIOAny, promise: EventLoopPromise<Void>?)] = []
        private var flushHeld = false

        init(recorded: NIOLockedValueBox<(any Error)?>, tlsHandler: NIOSSLClientHandler, hostName: String?) {
            self.recorded = recorded
            self.tlsHandler = tlsHandler
            self.hostName = hostName
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if verified { context.write(data, promise: promise) } else { held.append((data, promise)) }
        }

        func flush(context: ChannelHandlerContext) {
            if verified { context.flush() } else { flushHeld = true }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
                let leaf = tlsHandler.peerCertificate
                if let hostName, !(leaf.map { TLSSetup.certificate($0, isFor: hostName) } ?? false) {
                    let error = HostMismatch(leaf: leaf)
                    record(error)
                    failHeld(error)
                    context.fireErrorCaught(error)
                    context.close(promise: nil)
                    return
                }
                verified = true
                for (data, promise) in held { context.write(data, promise: promise) }
                held = []
                if flushHeld { context.flush() }
                // Verified: nothing more to hold or record, so it leaves the pipeline (one hop less per frame).
                context.fireUserInboundEventTriggered(event)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // Only errors of the TLS handshake explain a refusal; a peer that later closes without
            // close_notify (after a 403, say) must not read as a TLS failure.
            if !verified, error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError { record(error) }
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            failHeld(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }

        private func record(_ error: any Error) {
            recorded.withLockedValue { if $0 == nil { $0 = error } }
        }

        private func failHeld(_ error: any Error) {
            let promises = held.compactMap(\.promise)
            held = []
            for promise in promises { promise.fail(error) }
        }
    }

    /// Whether `certificate` is for the host name `host` (RFC 6125): one of its DNS names matches (a
    /// `*.` wildcard for one leftmost label), or, when it has no alternative names at all, its common
    /// name does.
    static func certificate(_ certificate: NIOSSLCertificate, isFor host: String) -> Bool {
        let host = host.lowercased().hasSuffix(".") ? String(host.lowercased().dropLast()) : host.lowercased()
        var dnsNames: [String] = []
        var alternativeNames = 0
        for name in certificate._subjectAlternativeNames() {
            alternativeNames += 1
            guard name.nameType == .dnsName else { continue }
            dnsNames.append(String(decoding: name.contents.withUnsafeBufferPointer { Array($0) }, as: UTF8.self).lowercased())
        }
        // The common name counts only for a certificate with no alternative names at all (RFC 6125).
        if alternativeNames == 0, let common = certificate.subjectName.first(where: { $0.type == .commonName }) {
            dnsNames = [common.value.lowercased()]
        }
        return dnsNames.contains { pattern in
            if pattern == host { return true }
            guard pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
            return host[dot...] == pattern.dropFirst() && host[..<dot].count > 0
        }
    }

    // MARK: Describing certificates and errors

    /// The DNS names and addresses a certificate is for (its subject alternative names), else its
    /// common name.
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        var names: [String] = []
        for name in certificate._subjectAlternativeNames() {
            let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
            if name.nameType == .dnsName {
                names.append(String(decoding: bytes, as: UTF8.self))
            } else if name.nameType == .ipAddress {
                if bytes.count == 4 {
                    names.append(bytes.map(String.init).joined(separator: "."))
                } else if bytes.count == 16 {
                    let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                    names.append(IPAddress(groups.joined(separator: ":"))?.description ?? groups.joined(separator: ":"))
                }
            }
        }
        if names.isEmpty, let common = certificate.subjectName.first(where: { $0.type == .commonName }) {
            names.append(common.value)
        }
        return names
    }

    private static func subject(of certificate: NIOSSLCertificate) -> String {
        certificate.subjectName.first(where: { $0.type == .commonName }).map { "CN=\($0.value)" } ?? "no common name"
    }

    private static func issuer(of certificate: NIOSSLCertificate) -> String {
        certificate.issuerName.first(where: { $0.type == .commonName }).map { "CN=\($0.value)" } ?? "an unnamed issuer"
    }

    private static func date(_ seconds: time_t) -> String {
        Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The TLS alert a peer sent, from BoringSSL's error text (`SSLV3_ALERT_CERTIFICATE_EXPIRED`,
    /// `TLSV1_ALERT_UNKNOWN_CA`, ...), in words.
    fileprivate static func alert(in text: String) -> String? {
        for prefix in ["TLSV1_ALERT_", "SSLV3_ALERT_"] {
            guard let range = text.range(of: prefix) else { continue }
            let name = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            return name.lowercased().replacingOccurrences(of: "_", with: " ")
        }
        return nil
    }

    /// BoringSSL's reason codes in an error text (the upper-case words after the last colon of each entry).
    fileprivate static func reasons(in text: String) -> String {
        let words = text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
            .filter { $0.count > 3 && $0.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" } && $0.contains("_") }
        let unique = words.reduce(into: [String]()) { if !$0.contains(String($1)) { $0.append(String($1)) } }
        return unique.isEmpty ? text : unique.joined(separator: ", ")
    }
}

/// Makes a TLS client handler with NIOSSL's per-certificate callback (see ``TLSSetup/ClientSide``).
private protocol HandlerMaker {
    static func make(context: NIOSSLContext, serverHostname: String?, callback: @escaping NIOSSLVerificationCallback) throws
        -> NIOSSLClientHandler
}

private enum DeprecatedHandlerMaker: HandlerMaker {
    @available(*, deprecated, message: "uses NIOSSL's per-certificate callback on purpose")
    static func make(context: NIOSSLContext, serverHostname: String?, callback: @escaping NIOSSLVerificationCallback) throws
        -> NIOSSLClientHandler
    {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname, verificationCallback: callback)
    }
}
