/// The checks both protocols make on the `PeerDetails` a peer sends about itself.
enum PeerCheck {
    /// The dialling side: the server must be the invitation's, in its zone, speaking our version.
    static func server(name: String, zone: String, version: Int, expected server: ServerEntry) throws {
        guard name == server.name else {
            throw PaddingtonError(.peerNameMismatch, "server says it is '\(name)', the invitation is from '\(server.name)'")
        }
        guard zone == server.zone else {
            throw PaddingtonError(.peerZoneMismatch, "server says its zone is '\(zone)', the invitation is for '\(server.zone)'")
        }
        guard version == WireMessage.peerDetailsVersion else {
            throw PaddingtonError(.protocolVersionMismatch,
                "server speaks PeerDetails version \(version), we speak \(WireMessage.peerDetailsVersion)")
        }
    }

    /// The accepting side: the client must be the one whose keys were used, in their zone.
    static func client(name: String, zone: String, version: Int, expected client: ClientEntry) throws {
        guard name == client.name else {
            throw PaddingtonError(.peerNameMismatch, "client with the keys of '\(client.name)' says it is '\(name)'")
        }
        guard zone == client.zone else {
            throw PaddingtonError(.peerZoneMismatch, "client \(client.name) says its zone is '\(zone)', its keys are for '\(client.zone)'")
        }
        guard version == WireMessage.peerDetailsVersion else {
            throw PaddingtonError(.protocolVersionMismatch,
                "client \(client.name) speaks PeerDetails version \(version), we speak \(WireMessage.peerDetailsVersion)")
        }
    }
}
