import Paddington
import PaddingtonCrypto

/// One JSON object per line, for `paddington run`.
struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    mutating func add(_ key: String, _ value: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        JSONString.append(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        JSONString.append(value, to: &bytes)
    }

    mutating func add(_ key: String, _ value: Int) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        JSONString.append(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        bytes += Array(String(value).utf8)
    }

    var text: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }

    static func event(_ event: MeshEvent) -> String {
        var line = JSONLine()
        switch event {
        case .listening(let host, let port):
            line.add("event", "listening")
            line.add("host", host)
            line.add("port", port)
        case .peerConnected(let info):
            line.add("event", "connected")
            line.add("peer", info.id.name)
            line.add("zone", info.id.zone)
            line.add("engine", info.engine)
            line.add("version", info.version)
            line.add("protocol", info.protocolVersion)
        case .peerDisconnected(let peer, let reason):
            line.add("event", "disconnected")
            line.add("peer", peer.name)
            line.add("zone", peer.zone)
            line.add("reason", reason.code.description)
            line.add("detail", reason.message)
        case .handshakeFailed(let address, let peer, let error):
            line.add("event", "handshake_failed")
            line.add("address", address)
            if let peer {
                line.add("peer", peer.name)
                line.add("zone", peer.zone)
            }
            line.add("reason", error.code.description)
            line.add("detail", error.message)
        }
        return line.text
    }

    static func message(_ message: Message) -> String {
        var line = JSONLine()
        line.add("event", "message")
        line.add("from", message.sender)
        line.add("zone", message.zone)
        line.add("payload", message.payload)
        return line.text
    }

    static func control(path: String) -> String {
        var line = JSONLine()
        line.add("event", "control")
        line.add("path", path)
        return line.text
    }

    static func reloaded(_ summary: ReloadSummary) -> String {
        var line = JSONLine()
        line.add("event", "reloaded")
        line.add("changes", summary.description)
        return line.text
    }

    static func configurationChanged(_ change: ConfigurationChange) -> String {
        var line = JSONLine()
        line.add("event", "configuration_changed")
        line.add("change", change.description)
        return line.text
    }

    static func health(host: String, port: Int) -> String {
        var line = JSONLine()
        line.add("event", "health")
        line.add("host", host)
        line.add("port", port)
        return line.text
    }

    static func error(_ text: String, input: String? = nil) -> String {
        var line = JSONLine()
        line.add("event", "error")
        line.add("detail", text)
        if let input { line.add("input", input) }
        return line.text
    }
}
