import PaddingtonCrypto

/// The accepting side of protocol 2 (paddington-v2 §5 and §7), as a pure state machine.
///
/// 1. Message 1 is opened by trial decryption over the candidates (the clients allowed from the source
///    address, in configuration order, the preferred one first), with no Diffie-Hellman; none opens it:
///    refused.
/// 2. Message 2 goes back; the link's ``ProtocolTwoCodec`` is made from the split.
/// 3. The client's first transport frame, CONTROL `PeerDetails`, must carry the name and zone of the
///    client whose key opened message 1. Only now is the client authenticated (message 1 can be
///    replayed by anyone who saw it; its first transport frame cannot), and only now does the driver
///    decide its standby status, so a replayed message 1 never displaces a live link.
/// 4. CONTROL `PeerDetails` goes back with the standby status; a standby client then polls
///    `CheckStandby`, each answered by `StandbyStatus` after a fresh decision.
package struct ProtocolTwoServerHandshake: HandshakeMachine, ~Copyable {
    private enum State {
        case awaitingMessage1
        case awaitingDetails(client: ClientEntry)
        case deciding(client: ClientEntry, firstDecision: Bool)
        case standby(client: ClientEntry)
        case done
    }

    private var state: State = .awaitingMessage1
    let localName: String
    /// Every configured client and its `psk_v2`, in configuration order (the configuration's arrays).
    let clients: [ClientEntry]
    let keys: [SecretKey]
    /// The connection's source address: only clients allowed from it are tried. Nil tries all.
    let address: IPAddress?
    /// Tried first: the client that last authenticated from this address (the caller passes one only
    /// when no two clients share keys, so that this cannot change which client is found).
    let preferred: PeerID?
    let prologue: [UInt8]
    let identity: EngineIdentity
    /// The service-wide policy, for clients with no policy of their own.
    let servicePolicy: ProtocolPolicy
    private let rekey: ProtocolTwo.RekeyPolicy
    private let ephemeralPrivateKey: SecretKey?
    private var codec: ProtocolTwoCodec?
    private var clientDetails: ProtocolTwoPeerDetails?

    /// The client whose key opened message 1, once known (not yet authenticated: see step 3).
    package private(set) var identifiedClient: ClientEntry?

    package init(
        localName: String, clients: [ClientEntry], keys: [SecretKey], address: IPAddress? = nil, preferred: PeerID? = nil,
        prologue: [UInt8], identity: EngineIdentity,
        servicePolicy: ProtocolPolicy = .auto, rekey: ProtocolTwo.RekeyPolicy = ProtocolTwo.RekeyPolicy(),
        ephemeralPrivateKey: SecretKey? = nil
    ) {
        self.localName = localName
        self.clients = clients
        self.keys = keys
        self.address = address
        self.preferred = preferred
        self.prologue = prologue
        self.identity = identity
        self.servicePolicy = servicePolicy
        self.rekey = rekey
        self.ephemeralPrivateKey = ephemeralPrivateKey
    }

    package var usesBinaryFrames: Bool { true }
    package var limitsEachStep: Bool { false }

    package mutating func receive(_ frame: [UInt8]) -> [HandshakeAction] {
        do {
            switch state {
            case .awaitingMessage1:
                // The candidates: clients allowed from the address, the preferred one first, then in
                // configuration order. Picked now and dropped after: the machine keeps no copy.
                let allowed = clients.indices.filter { index in address.map(clients[index].allowance.allows) ?? true }
                let first = preferred.flatMap { peer in allowed.first { clients[$0].name == peer.name && clients[$0].zone == peer.zone } }
                let order = (first.map { [$0] } ?? []) + allowed.filter { $0 != first }
                guard var responder = try NoiseResponder.open(
                    message1: frame, candidates: order.map { keys[$0] }, prologue: prologue, ephemeralPrivateKey: ephemeralPrivateKey)
                else {
                    let names = order.prefix(8).map { "\(clients[$0].name)@\(clients[$0].zone)" }.joined(separator: ", ")
                    throw PaddingtonError(.authenticationFailed,
                        "Noise message 1 did not open with the key of any client allowed from this address (\(order.count) tried: \(names)\(order.count > 8 ? ", …" : ""))")
                }
                let client = clients[order[responder.candidateIndex]]
                identifiedClient = client
                if !(client.protocolPolicy ?? servicePolicy).allowsProtocolTwo {
                    throw PaddingtonError(.protocolVersionMismatch, "protocol 2 is off for client \(client.name)@\(client.zone)")
                }
                let message2 = try responder.writeMessage2()
                codec = ProtocolTwoCodec(session: try responder.finish(), rekey: rekey, announcesAgentFrames: identity.announcesAgentFrames)
                state = .awaitingDetails(client: client)
                return [.sendBinary(message2)]

            case .awaitingDetails(let client):
                guard case .peerDetails(let details) = try openControl(frame, step: "the client's PeerDetails") else {
                    throw PaddingtonError(.protocolViolation, "expected the client's PeerDetails as the first transport frame")
                }
                try PeerCheck.client(name: details.name, zone: details.zone, version: details.version, expected: client)
                clientDetails = details
                state = .deciding(client: client, firstDecision: true)
                return [.decideStandby(name: client.name, zone: client.zone)]

            case .standby(let client):
                guard case .checkStandby = try openControl(frame, step: "the standby poll") else {
                    throw PaddingtonError(.protocolViolation, "expected CheckStandby from a standby client")
                }
                state = .deciding(client: client, firstDecision: false)
                return [.decideStandby(name: client.name, zone: client.zone)]

            case .deciding, .done:
                throw PaddingtonError(.protocolViolation, "unexpected frame from the client during the handshake")
            }
        } catch {
            return [fail(error)]
        }
    }

    package mutating func standbyDecided(_ status: WireMessage.Standby) -> [HandshakeAction] {
        guard case .deciding(let client, let first) = state, let codec, let details = clientDetails else { return [] }
        let reply: ControlMessage = first
            ? .peerDetails(ProtocolTwoPeerDetails(
                name: localName, zone: client.zone, version: WireMessage.peerDetailsVersion, standby: status,
                engine: identity.engine, engineVersion: identity.version))
            : .standbyStatus(status)
        let sealed: [UInt8]
        do {
            sealed = Array(buffer: try codec.sealControl(reply))
        } catch {
            return [fail(error)]
        }
        if status.isPrimary {
            state = .done
            return [.sendBinary(sealed), .established(EstablishedSession(
                peerName: client.name, zone: client.zone, peerEngine: details.engine ?? "unknown",
                peerVersion: details.engineVersion ?? "unknown", role: .server, codec: codec, clientKeys: client.keys))]
        }
        if status.serverIsSecondary {
            state = .done
            return [.sendBinary(sealed), .fail(PaddingtonError(.standbyRefused, "refused \(client.name)@\(client.zone): this server is a secondary"))]
        }
        state = .standby(client: client)
        return [.sendBinary(sealed)]
    }

    package mutating func standbyTimerFired() -> [HandshakeAction] { [] }

    package var identifiedPeer: PeerID? { identifiedClient.map { PeerID(name: $0.name, zone: $0.zone) } }

    private func openControl(_ frame: [UInt8], step: String) throws -> ControlMessage {
        guard let codec else { throw PaddingtonError(.protocolViolation, "no session yet") }
        do {
            return try codec.openControl(frame)
        } catch let error as PaddingtonError {
            throw PaddingtonError.handshakeFrame(error, step: step)
        }
    }

    private mutating func fail(_ error: any Error) -> HandshakeAction {
        state = .done
        return .fail(.peerFailure(error))
    }
}
