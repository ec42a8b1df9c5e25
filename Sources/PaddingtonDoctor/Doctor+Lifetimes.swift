import Foundation
import Paddington

extension Doctor {
    /// The lifetimes of the clients' keys: invitations that expire (or did, unused), single-use
    /// invitations not used yet, and previous keys of a rotation still in their overlap.
    func lifetimeChecks(_ service: ServiceConfiguration?, now: Date = Date()) -> [DoctorCheck] {
        guard let service else { return [] }
        var checks: [DoctorCheck] = []
        for client in service.clients {
            let peer = "\(client.name)@\(client.zone)"
            if let expires = client.expires {
                if expires <= now {
                    checks.append(DoctorCheck(
                        "invitations.expiry", .fail, subject: peer,
                        "the invitation of client \(peer) expired unused at \(Self.timestamp(expires)): its keys are refused",
                        fix: "write a new one with paddington rotate \(client.name) --zone \(client.zone) --overlap 0, then paddington reload"))
                } else {
                    checks.append(DoctorCheck(
                        "invitations.expiry", .pass, subject: peer,
                        "the invitation of client \(peer) expires at \(Self.timestamp(expires)) unless it is used first"))
                }
            }
            if client.singleUse {
                checks.append(DoctorCheck(
                    "invitations.single_use", .pass, subject: peer,
                    "the invitation of client \(peer) is single-use: its keys are replaced at the first connection of a peer of ours"))
            }
            if let until = client.previousKeysUntil {
                if until <= now {
                    checks.append(DoctorCheck(
                        "keys.previous", .info, subject: peer,
                        "the previous keys of client \(peer) ended at \(Self.timestamp(until)); they are no longer accepted (the entry is tidied at the next connection with the new keys)"))
                } else {
                    checks.append(DoctorCheck(
                        "keys.previous", .warning, subject: peer,
                        "client \(peer) may still connect with its previous keys until \(Self.timestamp(until)) (a rotation's overlap)",
                        fix: "it ends by itself when \(client.name) connects with its new invitation; to end it now, paddington rotate \(client.name) --overlap 0"))
                }
            }
        }
        if checks.isEmpty {
            checks.append(DoctorCheck("invitations.expiry", .info, "invitation expiry: no client's invitation expires"))
        }
        return checks
    }

    static func timestamp(_ date: Date) -> String {
        Timestamp.format(date)
    }
}
