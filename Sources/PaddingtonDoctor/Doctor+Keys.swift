import Paddington
import PaddingtonCrypto

extension Doctor {
    /// Loads the configuration. Loading already refuses a key that is not 64 hex characters (32 bytes)
    /// or is all zero, naming the field.
    func parseConfiguration() -> (ServiceConfiguration?, [DoctorCheck]) {
        let path = configuration.configPath
        guard Self.status(of: path) != nil else { return (nil, []) }
        do {
            let service = try ServiceConfiguration.load(from: path)
            let role = service.isClientOnly ? "a client only" : "listening on \(service.ip):\(service.port)"
            return (service, [DoctorCheck("config.parse", .pass, subject: path,
                "\(path) parses: service \(service.name), \(role), \(service.clients.count) client(s), \(service.servers.count) server(s)")])
        } catch let error as PaddingtonError {
            return (nil, [DoctorCheck("config.parse", .fail, subject: path, "\(path) does not load: \(error.message)",
                fix: "correct the field it names (a key is { data = \"<64 hex characters>\" }, not all zero)")])
        } catch {
            return (nil, [DoctorCheck("config.parse", .fail, subject: path, "\(path) does not load: \(error)", fix: "correct the file")])
        }
    }

    /// One peer's keys, for comparing.
    private struct KeyOwner {
        var label: String
        var keys: EnvelopeKeys
        var fix: String
    }

    /// Each peer's two keys differ, and no key is shared by two peers. (Length, hex and null keys were
    /// checked by loading.)
    func keyChecks(_ service: ServiceConfiguration) -> [DoctorCheck] {
        let path = configuration.configPath
        let owners = service.clients.map { client in
            KeyOwner(label: "client \(client.name)@\(client.zone)", keys: client.keys,
                fix: "run `paddington rotate \(client.name) --zone \(client.zone) --config \(path)` and deliver the new invitation")
        } + service.servers.map { server in
            KeyOwner(label: "server \(server.name)@\(server.zone)", keys: server.keys,
                fix: "ask \(server.name)'s operator for a new invitation (`paddington rotate` there), then `paddington accept` it here")
        }
        guard !owners.isEmpty else {
            return [DoctorCheck("keys", .info, subject: path, "keys: \(service.name) has no peers yet")]
        }
        var checks: [DoctorCheck] = []
        for owner in owners where owner.keys.inner == owner.keys.outer {
            checks.append(DoctorCheck("keys", .fail, subject: path, "\(owner.label) uses the same key as inner_key and outer_key", fix: owner.fix))
        }
        for (index, first) in owners.enumerated() {
            for second in owners[(index + 1)...] {
                let a = [first.keys.inner, first.keys.outer]
                let b = [second.keys.inner, second.keys.outer]
                if a.contains(where: { key in b.contains(key) }) {
                    checks.append(DoctorCheck("keys", .fail, subject: path,
                        "\(first.label) and \(second.label) share a key: either could pose as the other", fix: second.fix))
                }
            }
        }
        if checks.isEmpty {
            checks.append(DoctorCheck("keys", .pass, subject: path,
                "keys: \(owners.count) peer(s), each with two well-formed keys (32 bytes, not all zero) of its own"))
        }
        return checks
    }
}
