import PaddingtonCrypto
/// The dialling side of the handshake, as a pure state machine: events in, actions out.
///
/// 1. The upgrade request carries the masked salts (``upgradeHeaders``).
/// 2. ``upgraded()`` sends frame 1, `Handshake{SK_out}` under the pre-shared keys.
/// 3. Frame 2 must open under `(PSK_inner, SK_out)`: proof that the server read frame 1.
/// 4. Frame 3 sends our `PeerDetails`; frame 4 must name the server and zone of the invitation.
/// 5. `client_is_secondary` means poll `{}` once a second until primary; `server_is_secondary` fails.
package struct ClientHandshake: DialledHandshake {
    enum State {
        case awaitingUpgrade
        case awaitingHello
        case awaitingDetails(serverHello: WireMessage.Hello)
        case standby(serverHello: WireMessage.Hello)
        case awaitingStandbyStatus(serverHello: WireMessage.Hello)
        case done
    }

    static let standbyPollInterval: Duration = .seconds(1)

    private(set) var state: State = .awaitingUpgrade
    let localName: String
    let server: ServerEntry
    let identity: EngineIdentity
    /// What the upgrade negotiated; this machine runs protocol 1 only.
    let negotiation: NegotiatedProtocol
    let sessionOuterKey: SecretKey
    let salts: ConnectionSalts
    private var sessionKeys: EnvelopeKeys?

    package init(localName: String, server: ServerEntry, identity: EngineIdentity, negotiation: NegotiatedProtocol = .rustCompatible,
         sessionOuterKey: SecretKey = .generate(), salts: ConnectionSalts = .generate()) {
        self.localName = localName
        self.server = server
        self.identity = identity
        self.negotiation = negotiation
        self.sessionOuterKey = sessionOuterKey
        self.salts = salts
    }

    /// The two custom headers of the upgrade request.
    var upgradeHeaders: [(String, String)] {
        Self.upgradeHeaders(salts: salts, keys: server.keys)
    }

    /// The salt headers of an upgrade request: the salts masked with the invitation's keys.
    static func upgradeHeaders(salts: ConnectionSalts, keys: EnvelopeKeys) -> [(String, String)] {
        let values = salts.maskedHeaderValues(keys: keys)
        return [(ConnectionSalts.innerHeaderName, values.inner), (ConnectionSalts.outerHeaderName, values.outer)]
    }

    /// The server accepted the upgrade: send frame 1.
    package mutating func upgraded() -> [HandshakeAction] {
        guard case .awaitingUpgrade = state else { return [fail(.protocolViolation, "upgrade completed twice")] }
        state = .awaitingHello
        let hello = WireMessage.Hello(
            sessionKey: sessionOuterKey, engine: identity.engine, version: identity.version,
            protocols: negotiation.protocolTwoEnabled ? [2] : nil, agent: identity.announcesAgentFrames)
        return [.send(Envelope.seal(hello.json(), keys: server.keys, salts: salts))]
    }

    /// A text frame arrived from the server.
    package mutating func receive(_ frame: [UInt8]) -> [HandshakeAction] {
        do {
            switch state {
            case .awaitingHello:
                let json = try open(frame, keys: EnvelopeKeys(inner: server.keys.inner, outer: sessionOuterKey), step: "frame 2 (server Handshake)")
                let hello = try WireMessage.Hello.decode(json, readingProtocols: negotiation.protocolTwoEnabled)
                if negotiation.protocolTwoEnabled, hello.supportsProtocolTwo {
                    return [fail(.downgradeDetected,
                        "server \(server.name) supports protocol 2, but its selection of it did not reach us: the header was stripped on the way")]
                }
                let keys = EnvelopeKeys(inner: hello.sessionKey, outer: sessionOuterKey)
                sessionKeys = keys
                state = .awaitingDetails(serverHello: hello)
                let details = WireMessage.PeerDetails(
                    name: localName, zone: server.zone, version: WireMessage.peerDetailsVersion, standby: .primary)
                return [.send(Envelope.seal(details.json(), keys: keys, salts: salts))]

            case .awaitingDetails(let hello):
                let details = try WireMessage.PeerDetails.decode(try open(frame, keys: try establishedKeys(), step: "frame 4 (server PeerDetails)"))
                try PeerCheck.server(name: details.name, zone: details.zone, version: details.version, expected: server)
                return standby(details.standby, hello: hello)

            case .awaitingStandbyStatus(let hello):
                let status = try WireMessage.Standby.decode(try open(frame, keys: try establishedKeys(), step: "standby status"))
                return standby(status, hello: hello)

            case .awaitingUpgrade, .standby, .done:
                return [fail(.protocolViolation, "unexpected frame from the server during the handshake")]
            }
        } catch let error as PaddingtonError {
            return [fail(error.code, error.message)]
        } catch {
            return [fail(.protocolViolation, "\(error)")]
        }
    }

    /// Clients never decide standby.
    package mutating func standbyDecided(_ status: WireMessage.Standby) -> [HandshakeAction] { [] }

    package var identifiedPeer: PeerID? { PeerID(name: server.name, zone: server.zone) }

    /// The standby wait is over: ask the server again.
    package mutating func standbyTimerFired() -> [HandshakeAction] {
        guard case .standby(let hello) = state, let keys = sessionKeys else { return [] }
        state = .awaitingStandbyStatus(serverHello: hello)
        return [.send(Envelope.seal(WireMessage.checkStandbyJSON, keys: keys, salts: salts))]
    }

    private mutating func standby(_ status: WireMessage.Standby, hello: WireMessage.Hello) -> [HandshakeAction] {
        if status.serverIsSecondary {
            return [fail(.standbyRefused, "server \(server.name)@\(server.zone) is a secondary and does not accept connections")]
        }
        if status.clientIsSecondary {
            state = .standby(serverHello: hello)
            return [.waitThenPoll(Self.standbyPollInterval)]
        }
        guard let keys = sessionKeys else { return [fail(.protocolViolation, "no session keys at the end of the handshake")] }
        state = .done
        return [.established(EstablishedSession(
            peerName: server.name, zone: server.zone, peerEngine: hello.engine, peerVersion: hello.version,
            role: .client, codec: ProtocolOneCodec(keys: keys, salts: salts, agentFrames: identity.announcesAgentFrames && hello.agent)))]
    }

    private func establishedKeys() throws -> EnvelopeKeys {
        guard let sessionKeys else { throw PaddingtonError(.protocolViolation, "no session keys yet") }
        return sessionKeys
    }

    private func open(_ frame: [UInt8], keys: EnvelopeKeys, step: String) throws -> [UInt8] {
        do {
            return try Envelope.open(frame, keys: keys, salts: salts)
        } catch let error as PaddingtonError where error.code == .decryptionFailed {
            throw PaddingtonError(.authenticationFailed, "\(step) did not decrypt: the server does not hold this invitation's keys")
        } catch let error as PaddingtonError {
            throw PaddingtonError(error.code, "\(step): \(error.message)")
        }
    }

    private mutating func fail(_ code: PaddingtonError.Code, _ message: String) -> HandshakeAction {
        state = .done
        return .fail(PaddingtonError(code, message))
    }
}
