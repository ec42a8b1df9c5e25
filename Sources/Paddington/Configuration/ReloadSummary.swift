/// What a reload changed (``Mesh/reload(_:reconnectNow:)``), by peer.
public struct ReloadSummary: Sendable, Equatable, CustomStringConvertible {
    /// Clients that may now connect.
    public var clientsAdded: [PeerID] = []
    /// Clients no longer admitted; their links were closed.
    public var clientsRemoved: [PeerID] = []
    /// Clients whose keys, addresses, protocol or lifetime changed; new handshakes use the new entry,
    /// and a live link stays up.
    public var clientsChanged: [PeerID] = []
    /// Servers now dialled.
    public var serversAdded: [PeerID] = []
    /// Servers no longer dialled; their links were closed.
    public var serversRemoved: [PeerID] = []
    /// Servers whose URL, keys or protocol changed; used at the next dial (at once with `reconnectNow`).
    public var serversChanged: [PeerID] = []

    /// Whether the listener's TLS certificate and key were read again (they apply to new connections).
    public var tlsCertificateReloaded = false

    /// Nothing changed.
    public init() {}

    init(from old: ServiceConfiguration, to new: ServiceConfiguration) {
        func id(_ client: ClientEntry) -> PeerID { PeerID(name: client.name, zone: client.zone) }
        func id(_ server: ServerEntry) -> PeerID { PeerID(name: server.name, zone: server.zone) }
        let oldClients = Dictionary(old.clients.map { (id($0), $0) }, uniquingKeysWith: { first, _ in first })
        let newClients = Dictionary(new.clients.map { (id($0), $0) }, uniquingKeysWith: { first, _ in first })
        clientsAdded = new.clients.map(id).filter { oldClients[$0] == nil }
        clientsRemoved = old.clients.map(id).filter { newClients[$0] == nil }
        clientsChanged = new.clients.filter { client in oldClients[id(client)].map { $0 != client } ?? false }.map(id)
        let oldServers = Dictionary(old.servers.map { (id($0), $0) }, uniquingKeysWith: { first, _ in first })
        let newServers = Dictionary(new.servers.map { (id($0), $0) }, uniquingKeysWith: { first, _ in first })
        serversAdded = new.servers.map(id).filter { oldServers[$0] == nil }
        serversRemoved = old.servers.map(id).filter { newServers[$0] == nil }
        serversChanged = new.servers.filter { server in oldServers[id(server)].map { $0 != server } ?? false }.map(id)
    }

    /// Whether the reload changed no peer (the TLS certificate aside).
    public var isEmpty: Bool {
        clientsAdded.isEmpty && clientsRemoved.isEmpty && clientsChanged.isEmpty
            && serversAdded.isEmpty && serversRemoved.isEmpty && serversChanged.isEmpty
    }

    /// `clients +a@z -b@z ~c@z; servers +d@z` (or `no change`), then `; TLS certificate read again`
    /// when it was.
    public var description: String {
        func list(_ prefix: String, _ peers: [PeerID]) -> [String] { peers.map { "\(prefix)\($0)" } }
        let clients = list("+", clientsAdded) + list("-", clientsRemoved) + list("~", clientsChanged)
        let servers = list("+", serversAdded) + list("-", serversRemoved) + list("~", serversChanged)
        var parts: [String] = []
        if !clients.isEmpty { parts.append("clients " + clients.joined(separator: " ")) }
        if !servers.isEmpty { parts.append("servers " + servers.joined(separator: " ")) }
        if parts.isEmpty { parts.append("no change") }
        if tlsCertificateReloaded { parts.append("TLS certificate read again") }
        return parts.joined(separator: "; ")
    }
}
