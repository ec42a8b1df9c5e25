import PaddingtonCrypto
/// The accepting side of the handshake, as a pure state machine: events in, actions out.
///
/// The driver passes the configured clients and the connection's source address; only clients
/// allowed from that address are tried. The clients array is the configuration's own (shared, not
/// copied per connection), which keeps idle connections small when there are many clients.
///
/// 1. Frame 1 is trial-decrypted with each candidate's keys and unmasked salts; the first that opens wins.
/// 2. Frame 2 returns `Handshake{SK_in}` under `(PSK_inner, SK_out)`.
/// 3. Frame 3 must carry the candidate's name and zone and version 2.
/// 4. The driver decides the standby status of `name@zone`; frame 4 carries it.
/// 5. A client told it is secondary polls with `{}`; each poll gets a fresh decision.
package struct ServerHandshake: HandshakeMachine {
    enum State {
        case awaitingHello
        case awaitingDetails(client: ClientEntry, hello: WireMessage.Hello)
        case deciding(client: ClientEntry, hello: WireMessage.Hello, firstDecision: Bool)
        case standby(client: ClientEntry, hello: WireMessage.Hello)
        case done
    }

    private(set) var state: State = .awaitingHello
    let localName: String
    let clients: [ClientEntry]
    let address: IPAddress?
    /// Tried first: the client that last authenticated from this address (reconnects are then O(1)).
    let preferred: PeerID?
    let maskedSalts: ConnectionSalts
    let identity: EngineIdentity
    /// What the upgrade negotiated; this machine runs protocol 1 only.
    let negotiation: NegotiatedProtocol
    /// The service-wide policy, for clients with no policy of their own.
    let servicePolicy: ProtocolPolicy
    let sessionInnerKey: SecretKey
    private var salts: ConnectionSalts?
    private var sessionKeys: EnvelopeKeys?

    /// - Parameter address: the connection's source address; nil tries every client.
    package init(localName: String, candidates clients: [ClientEntry], address: IPAddress? = nil, preferred: PeerID? = nil,
         maskedSalts: ConnectionSalts, identity: EngineIdentity, negotiation: NegotiatedProtocol = .rustCompatible,
         servicePolicy: ProtocolPolicy = .auto, sessionInnerKey: SecretKey = .generate()) {
        self.negotiation = negotiation
        self.servicePolicy = servicePolicy
        self.localName = localName
        self.clients = clients
        self.address = address
        self.preferred = preferred
        self.maskedSalts = maskedSalts
        self.identity = identity
        self.sessionInnerKey = sessionInnerKey
    }

    /// The client whose keys opened frame 1, once known (also after a later step failed, so that the
    /// failure can name it).
    package private(set) var authenticatedClient: ClientEntry?

    package mutating func receive(_ frame: [UInt8]) -> [HandshakeAction] {
        switch state {
        case .awaitingHello:
            return receiveHello(frame)

        case .awaitingDetails(let client, let hello):
            let details: WireMessage.PeerDetails
            do {
                details = try WireMessage.PeerDetails.decode(try open(frame, step: "frame 3 (client PeerDetails)"))
            } catch {
                return [fail(error)]
            }
            do {
                try PeerCheck.client(name: details.name, zone: details.zone, version: details.version, expected: client)
            } catch {
                return [fail(error)]
            }
            state = .deciding(client: client, hello: hello, firstDecision: true)
            return [.decideStandby(name: client.name, zone: client.zone)]

        case .standby(let client, let hello):
            do {
                try WireMessage.decodeCheckStandby(try open(frame, step: "standby poll"))
            } catch {
                return [fail(error)]
            }
            state = .deciding(client: client, hello: hello, firstDecision: false)
            return [.decideStandby(name: client.name, zone: client.zone)]

        case .deciding, .done:
            return [fail(PaddingtonError(.protocolViolation, "unexpected frame from the client during the handshake"))]
        }
    }

    /// The driver's answer to `.decideStandby`.
    package mutating func standbyDecided(_ status: WireMessage.Standby) -> [HandshakeAction] {
        guard case .deciding(let client, let hello, let first) = state, let keys = sessionKeys, let salts else { return [] }
        // Frame 4 is PeerDetails; answers to later polls are bare StandbyStatus.
        let json = first
            ? WireMessage.PeerDetails(name: localName, zone: client.zone, version: WireMessage.peerDetailsVersion, standby: status).json()
            : status.json()
        let reply = HandshakeAction.send(Envelope.seal(json, keys: keys, salts: salts))
        if status.isPrimary {
            state = .done
            return [reply, .established(EstablishedSession(
                peerName: client.name, zone: client.zone, peerEngine: hello.engine, peerVersion: hello.version,
                role: .server, codec: ProtocolOneCodec(keys: keys, salts: salts, agentFrames: identity.announcesAgentFrames && hello.agent),
                clientKeys: client.keys))]
        }
        if status.serverIsSecondary {
            state = .done
            return [reply, .fail(PaddingtonError(.standbyRefused, "refused \(client.name)@\(client.zone): this server is a secondary"))]
        }
        state = .standby(client: client, hello: hello)
        return [reply]
    }

    /// Servers never wait as standby.
    package mutating func standbyTimerFired() -> [HandshakeAction] { [] }

    package var identifiedPeer: PeerID? { authenticatedClient.map { PeerID(name: $0.name, zone: $0.zone) } }

    private mutating func receiveHello(_ frame: [UInt8]) -> [HandshakeAction] {
        var lastError: PaddingtonError?
        var tried: [String] = []
        let first = preferred.flatMap { peer in clients.firstIndex { $0.name == peer.name && $0.zone == peer.zone } }
        let order = (first.map { [$0] } ?? []) + clients.indices.filter { $0 != first }
        for client in order.map({ clients[$0] }) where address.map(client.allowance.allows) ?? true {
            tried.append("\(client.name)@\(client.zone)")
            let salts = ConnectionSalts.unmask(maskedSalts, keys: client.keys)
            do {
                let json = try Envelope.open(frame, keys: client.keys, salts: salts)
                let hello = try WireMessage.Hello.decode(json, readingProtocols: negotiation.protocolTwoEnabled)
                authenticatedClient = client
                if negotiation.protocolTwoEnabled, hello.supportsProtocolTwo {
                    return [fail(PaddingtonError(.downgradeDetected,
                        "client \(client.name) supports protocol 2, but its offer of it did not reach us: the header was stripped or changed on the way"))]
                }
                if (client.protocolPolicy ?? servicePolicy).requiresProtocolTwo {
                    return [fail(PaddingtonError(.protocolVersionMismatch,
                        "client \(client.name) must use protocol 2 and connected with protocol 1"))]
                }
                let keys = EnvelopeKeys(inner: sessionInnerKey, outer: hello.sessionKey)
                self.salts = salts
                self.sessionKeys = keys
                state = .awaitingDetails(client: client, hello: hello)
                let reply = WireMessage.Hello(
                    sessionKey: sessionInnerKey, engine: identity.engine, version: identity.version,
                    protocols: negotiation.protocolTwoEnabled ? [2] : nil, agent: identity.announcesAgentFrames)
                return [.send(Envelope.seal(reply.json(), keys: EnvelopeKeys(inner: client.keys.inner, outer: hello.sessionKey), salts: salts))]
            } catch let error as PaddingtonError {
                // A malformed frame fails the same way for every candidate: stop at once.
                if error.code == .malformedFrame { return [fail(PaddingtonError(.malformedFrame, "frame 1: \(error.message)"))] }
                lastError = error
            } catch {
                lastError = .peerFailure(error)
            }
        }
        if let lastError, lastError.code == .protocolViolation {
            return [fail(PaddingtonError(.protocolViolation, "frame 1 decrypted but is not a Handshake: \(lastError.message)"))]
        }
        let names = tried.count <= 8 ? tried.joined(separator: ", ") : tried.prefix(8).joined(separator: ", ") + ", …"
        return [fail(PaddingtonError(.authenticationFailed,
            "frame 1 did not decrypt with the keys of any client allowed from this address (\(tried.count) tried: \(names))"))]
    }

    private func open(_ frame: [UInt8], step: String) throws -> [UInt8] {
        guard let keys = sessionKeys, let salts else { throw PaddingtonError(.protocolViolation, "no session keys yet") }
        do {
            return try Envelope.open(frame, keys: keys, salts: salts)
        } catch let error as PaddingtonError {
            throw PaddingtonError.handshakeFrame(error, step: step)
        }
    }

    private mutating func fail(_ error: any Error) -> HandshakeAction {
        state = .done
        return .fail(.peerFailure(error))
    }
}
