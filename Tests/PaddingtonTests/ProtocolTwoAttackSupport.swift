import Testing
@testable import Paddington

/// An ack server (every message answered with `ack:<payload>`) with one client, `client`, allowed from
/// 127.0.0.1; `policy` is the service's protocol policy, `clientPolicy` the client entry's own.
func startAckServer(
    policy: ProtocolPolicy, clientPolicy: ProtocolPolicy? = nil, options: MeshConfiguration = fastOptions()
) async throws -> (server: RunningMesh, invitation: Invitation, port: Int) {
    var config = try serverConfiguration()
    config.protocolPolicy = policy
    let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
    config.clients[0].protocolPolicy = clientPolicy
    let server = RunningMesh(config, options: options) { mesh in
        mesh.onMessage { message, context in try await context.reply("ack:\(message.payload)") }
    }
    return (server, invitation, try await server.mesh.listeningPort())
}

/// A good client of an ack server, with protocol policy `policy`, connects over protocol
/// `protocolVersion` and completes a round trip.
func expectServes(
    port: Int, invitation: Invitation, overProtocol protocolVersion: Int, policy: ProtocolPolicy = .auto,
    payload: String = "still there?", sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let inbox = Inbox()
    var config = try clientConfiguration(invitation: invitation, port: port)
    config.protocolPolicy = policy
    let client = RunningMesh(config) { mesh in
        mesh.onMessage { message, _ in inbox.append(message) }
    }
    try await client.recorder.wait(for: "good client connected", sourceLocation: sourceLocation) { $0.isConnected }
    #expect(client.mesh.connectedPeers.first?.protocolVersion == protocolVersion, sourceLocation: sourceLocation)
    try await client.mesh.send(payload, to: "server")
    try await inbox.wait(count: 1, sourceLocation: sourceLocation)
    #expect(inbox.all.first?.payload == "ack:\(payload)", sourceLocation: sourceLocation)
    await client.stop()
}

/// Waits for `server` to refuse a connection with `code`, naming `peer` when one is given (`.some(nil)`:
/// nobody, the keys matched no client); checks that the refusal is counted and its message.
///
/// Other connections may fail on the way (an honest client's attempt that timed out under load): only
/// a refusal with this code and peer counts.
@discardableResult
func expectRefusal(
    _ server: RunningMesh, _ code: PaddingtonError.Code, peer: PeerID?? = nil, containing fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> PaddingtonError {
    let event = try await server.recorder.wait(for: "refusal \(code) of \(String(describing: peer))", sourceLocation: sourceLocation) { event in
        guard case .handshakeFailed(_, let named, let error) = event, error.code == code else { return false }
        return peer.map { $0 == named } ?? true
    }
    #expect((server.mesh.statistics.handshakeFailures[code.description] ?? 0) >= 1, sourceLocation: sourceLocation)
    guard case .handshakeFailed(_, _, let error) = event else { throw PaddingtonError(.protocolViolation, "not a refusal") }
    if let fragment { #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation) }
    return error
}

extension PeerID {
    /// The ack server's only client.
    static let ackClient = PeerID(name: "client", zone: "default")
}
