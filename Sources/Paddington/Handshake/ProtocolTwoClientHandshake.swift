import PaddingtonCrypto

/// The dialling side of protocol 2 (paddington-v2 §5 and §7), as a pure state machine.
///
/// 1. ``upgraded()`` sends Noise message 1 (binary, 48 bytes) under the invitation's `psk_v2` and the
///    prologue of the negotiation headers.
/// 2. Message 2 completes the handshake; the link's ``ProtocolTwoCodec`` is made from the split, and the
///    first transport frame goes out: CONTROL `PeerDetails` (name, zone, version 2, primary, engine).
/// 3. The server's CONTROL `PeerDetails` must name the server and zone of the invitation; its standby
///    status decides: primary (established), `client_is_secondary` (poll `CheckStandby` once a second,
///    answered by `StandbyStatus`) or `server_is_secondary` (refused).
package struct ProtocolTwoClientHandshake: DialledHandshake, ~Copyable {
    private enum State {
        case awaitingUpgrade
        case awaitingMessage2
        case awaitingDetails
        case standby
        case awaitingStandbyStatus
        case done
    }

    private var state: State = .awaitingUpgrade
    let localName: String
    let server: ServerEntry
    let identity: EngineIdentity
    private let rekey: ProtocolTwo.RekeyPolicy
    private var initiator: NoiseInitiator?
    private var codec: ProtocolTwoCodec?
    private var serverDetails: ProtocolTwoPeerDetails?

    /// - Parameter ephemeralPrivateKey: fixed only to reproduce test vectors.
    package init(
        localName: String, server: ServerEntry, identity: EngineIdentity, prologue: [UInt8],
        rekey: ProtocolTwo.RekeyPolicy = ProtocolTwo.RekeyPolicy(), ephemeralPrivateKey: SecretKey? = nil
    ) throws {
        self.localName = localName
        self.server = server
        self.identity = identity
        self.rekey = rekey
        let psk = ProtocolTwo.psk(from: server.keys)
        if let ephemeralPrivateKey {
            initiator = try NoiseInitiator(psk: psk, prologue: prologue, ephemeralPrivateKey: ephemeralPrivateKey)
        } else {
            initiator = try NoiseInitiator(psk: psk, prologue: prologue)
        }
    }

    package var usesBinaryFrames: Bool { true }
    package var limitsEachStep: Bool { false }

    /// The server accepted the upgrade with protocol 2: send message 1.
    package mutating func upgraded() -> [HandshakeAction] {
        guard case .awaitingUpgrade = state else { return [fail(.protocolViolation, "upgrade completed twice")] }
        do {
            guard var initiator = initiator.take() else { return [fail(.protocolViolation, "no handshake state")] }
            let message1 = try initiator.writeMessage1()
            self.initiator = consume initiator
            state = .awaitingMessage2
            return [.sendBinary(message1)]
        } catch {
            return [fail(error)]
        }
    }

    package mutating func receive(_ frame: [UInt8]) -> [HandshakeAction] {
        do {
            switch state {
            case .awaitingMessage2:
                guard let initiator = initiator.take() else { return [fail(.protocolViolation, "no handshake state")] }
                let session: ProtocolTwo.Session
                do {
                    session = try initiator.readMessage2(frame)
                } catch let error as PaddingtonError where error.code == .authenticationFailed {
                    throw PaddingtonError(.authenticationFailed,
                        "Noise message 2 did not verify: the server does not hold this invitation's keys, or a header was changed on the way")
                }
                let codec = ProtocolTwoCodec(session: session, rekey: rekey, announcesAgentFrames: identity.announcesAgentFrames)
                self.codec = codec
                state = .awaitingDetails
                let details = ProtocolTwoPeerDetails(
                    name: localName, zone: server.zone, version: WireMessage.peerDetailsVersion, standby: .primary,
                    engine: identity.engine, engineVersion: identity.version)
                return [.sendBinary(Array(buffer: try codec.sealControl(.peerDetails(details))))]

            case .awaitingDetails:
                guard case .peerDetails(let details) = try openControl(frame, step: "the server's PeerDetails") else {
                    throw PaddingtonError(.protocolViolation, "expected the server's PeerDetails")
                }
                try PeerCheck.server(name: details.name, zone: details.zone, version: details.version, expected: server)
                serverDetails = details
                return standby(details.standby)

            case .awaitingStandbyStatus:
                guard case .standbyStatus(let status) = try openControl(frame, step: "the standby status") else {
                    throw PaddingtonError(.protocolViolation, "expected StandbyStatus")
                }
                return standby(status)

            case .awaitingUpgrade, .standby, .done:
                throw PaddingtonError(.protocolViolation, "unexpected frame from the server during the handshake")
            }
        } catch {
            return [fail(error)]
        }
    }

    package mutating func standbyDecided(_ status: WireMessage.Standby) -> [HandshakeAction] { [] }

    package var identifiedPeer: PeerID? { PeerID(name: server.name, zone: server.zone) }

    package mutating func standbyTimerFired() -> [HandshakeAction] {
        guard case .standby = state, let codec else { return [] }
        do {
            state = .awaitingStandbyStatus
            return [.sendBinary(Array(buffer: try codec.sealControl(.checkStandby)))]
        } catch {
            return [fail(error)]
        }
    }

    private mutating func standby(_ status: WireMessage.Standby) -> [HandshakeAction] {
        if status.serverIsSecondary {
            return [fail(.standbyRefused, "server \(server.name)@\(server.zone) is a secondary and does not accept connections")]
        }
        if status.clientIsSecondary {
            state = .standby
            return [.waitThenPoll(ClientHandshake.standbyPollInterval)]
        }
        guard let codec, let details = serverDetails else { return [fail(.protocolViolation, "no session at the end of the handshake")] }
        state = .done
        return [.established(EstablishedSession(
            peerName: server.name, zone: server.zone, peerEngine: details.engine ?? "unknown",
            peerVersion: details.engineVersion ?? "unknown", role: .client, codec: codec))]
    }

    private func openControl(_ frame: [UInt8], step: String) throws -> ControlMessage {
        guard let codec else { throw PaddingtonError(.protocolViolation, "no session yet") }
        do {
            return try codec.openControl(frame)
        } catch let error as PaddingtonError {
            throw PaddingtonError(error.code, "\(step): \(error.message)")
        }
    }

    private mutating func fail(_ code: PaddingtonError.Code, _ message: String) -> HandshakeAction {
        fail(PaddingtonError(code, message))
    }

    private mutating func fail(_ error: any Error) -> HandshakeAction {
        state = .done
        _ = initiator.take()
        return .fail(.peerFailure(error))
    }
}
