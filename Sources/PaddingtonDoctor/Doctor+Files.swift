import Foundation
import Paddington
import PaddingtonCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Doctor {
    /// A file's permission bits and owner.
    struct FileStatus {
        var mode: mode_t
        var owner: uid_t
        var isDirectory: Bool
    }

    static func status(of path: String) -> FileStatus? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStatus(mode: info.st_mode & 0o7777, owner: info.st_uid, isDirectory: (info.st_mode & S_IFMT) == S_IFDIR)
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// "readable by others", "readable and writable by its group", or nil when only the owner has access.
    static func exposure(_ mode: mode_t) -> String? {
        func actions(_ bits: mode_t) -> String? {
            var names: [String] = []
            if bits & 4 != 0 { names.append("readable") }
            if bits & 2 != 0 { names.append("writable") }
            if bits & 1 != 0 { names.append("executable") }
            return names.isEmpty ? nil : names.joined(separator: " and ")
        }
        if let others = actions(mode & 0o007) { return "\(others) by others" }
        if let group = actions((mode >> 3) & 0o007) { return "\(group) by its group" }
        return nil
    }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }

    /// Mode and owner of a file that holds keys: it must be 0600 (or stricter) and the running user's.
    /// `missingFix` is the fix when the file is missing or a directory (by default: `paddington init`, or `--config`).
    func fileChecks(path: String, what: String, kind: String = "config", missingFix: String? = nil) -> [DoctorCheck] {
        guard let status = Self.status(of: path) else {
            return [DoctorCheck("\(kind).file", .fail, subject: path, "\(path) does not exist",
                fix: missingFix ?? "create \(what) with `paddington init --config \(path)`, or give its path with --config")]
        }
        guard !status.isDirectory else {
            return [DoctorCheck("\(kind).file", .fail, subject: path, "\(path) is a directory, not \(what)",
                fix: missingFix ?? "give the file's path with --config")]
        }
        var checks: [DoctorCheck] = []
        let mode = Self.octal(status.mode)
        if let exposure = Self.exposure(status.mode) {
            checks.append(DoctorCheck("\(kind).mode", .fail, subject: path, "\(path) is \(exposure) (mode \(mode))",
                fix: "run chmod 600 \(path)"))
        } else {
            checks.append(DoctorCheck("\(kind).mode", .pass, subject: path, "\(path) is private to its owner (mode \(mode))"))
        }
        let me = geteuid()
        if status.owner != me {
            checks.append(DoctorCheck("\(kind).owner", .fail, subject: path,
                "\(path) is owned by \(Self.userName(status.owner)), not by the user running this, \(Self.userName(me))",
                fix: "run chown \(me) \(path) as root, or run doctor as the user that runs the service"))
        } else {
            checks.append(DoctorCheck("\(kind).owner", .pass, subject: path, "\(path) is owned by \(Self.userName(me))"))
        }
        return checks
    }

    /// The invitation files in the invitations folder: the folder ours and writable by us only, each file
    /// private and ours, each a valid invitation with two distinct keys, each still matching a peer.
    func invitationChecks(service: ServiceConfiguration?) -> [DoctorCheck] {
        let folder = configuration.invitationsFolder
        guard let status = Self.status(of: folder), status.isDirectory else {
            return [DoctorCheck("invitations.folder", .info, subject: folder, "no \(folder)/ folder: no invitation files to check")]
        }
        var checks: [DoctorCheck] = []
        let mode = Self.octal(status.mode)
        if status.mode & 0o002 != 0 {
            checks.append(DoctorCheck("invitations.folder", .fail, subject: folder,
                "\(folder)/ is writable by others (mode \(mode)): anyone could replace an invitation",
                fix: "run chmod go-w \(folder)"))
        } else if status.mode & 0o020 != 0 {
            checks.append(DoctorCheck("invitations.folder", .fail, subject: folder,
                "\(folder)/ is writable by its group (mode \(mode)): anyone in the group could replace an invitation",
                fix: "run chmod g-w \(folder)"))
        } else {
            checks.append(DoctorCheck("invitations.folder", .pass, subject: folder,
                "\(folder)/ is writable by its owner only (mode \(mode))"))
        }
        let me = geteuid()
        if status.owner != me {
            checks.append(DoctorCheck("invitations.owner", .fail, subject: folder,
                "\(folder)/ is owned by \(Self.userName(status.owner)), not by the user running this, \(Self.userName(me)): its owner could replace an invitation",
                fix: "run chown \(me) \(folder) as root, or run doctor as the user that runs the service"))
        } else {
            checks.append(DoctorCheck("invitations.owner", .pass, subject: folder, "\(folder)/ is owned by \(Self.userName(me))"))
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }
            .sorted()
        for name in names {
            let path = "\(folder)/\(name)"
            checks += fileChecks(path: path, what: "an invitation", kind: "invitation")
            checks.append(invitationContents(path: path, service: service))
        }
        return checks
    }

    private func invitationContents(path: String, service: ServiceConfiguration?) -> DoctorCheck {
        let invitation: Invitation
        do {
            invitation = try Invitation.load(from: path)
        } catch let error as PaddingtonError {
            return DoctorCheck("invitation.parse", .fail, subject: path, "\(path) is not a valid invitation: \(error.message)",
                fix: "write it again (`paddington rotate CLIENT` on the server), or delete it")
        } catch {
            return DoctorCheck("invitation.parse", .fail, subject: path, "\(path) cannot be read: \(error)", fix: "delete it, or write it again")
        }
        if invitation.keys.inner == invitation.keys.outer {
            return DoctorCheck("invitation.keys", .fail, subject: path, "\(path) uses the same key as inner_key and outer_key",
                fix: "write it again with fresh keys (`paddington rotate CLIENT` on the server)")
        }
        guard let service else {
            return DoctorCheck("invitation.keys", .pass, subject: path, "\(path) is a valid invitation from \(invitation.name)@\(invitation.zone)")
        }
        if invitation.name == service.name {
            if service.clients.contains(where: { $0.zone == invitation.zone && $0.keys == invitation.keys }) {
                return DoctorCheck("invitation.keys", .pass, subject: path, "\(path) is the current invitation of a client of \(service.name)")
            }
            return DoctorCheck("invitation.keys", .warning, subject: path,
                "\(path) holds keys no client of \(service.name) has any more (rotated or removed)",
                fix: "delete it once you know it is not waiting to be delivered")
        }
        if service.servers.contains(where: { $0.name == invitation.name && $0.zone == invitation.zone && $0.keys == invitation.keys }) {
            return DoctorCheck("invitation.keys", .pass, subject: path,
                "\(path) is the accepted invitation of server \(invitation.name)@\(invitation.zone)")
        }
        return DoctorCheck("invitation.keys", .warning, subject: path,
            "\(path) is an invitation from \(invitation.name)@\(invitation.zone) that \(service.name) has not accepted (or whose keys changed since)",
            fix: "run `paddington accept \(path)` if \(service.name) should dial it, else delete it")
    }
}
