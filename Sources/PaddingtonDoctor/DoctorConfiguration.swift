import Foundation

/// What ``Doctor`` checks and how long it waits. Every field but the configuration file has a default.
package struct DoctorConfiguration: Sendable {
    /// The service configuration file.
    package var configPath: String
    /// The folder of invitation files; nil is `invitations/` beside the configuration file.
    package var invitationsPath: String?
    /// The control socket of the service's running agent; nil is the one `paddington run` opens by default.
    package var controlPath: String?
    /// The limit for each network step: resolving a name, a TCP connect, the upgrade's answer, each
    /// handshake step, the control socket's answer.
    package var timeout: Duration
    /// Whether to dial the servers (resolve, connect, upgrade, handshake).
    package var checkServers: Bool
    /// Resolves a host name to address literals. The default asks the system (getaddrinfo); tests give
    /// their own so that no resolver beyond loopback is asked.
    package var resolve: @Sendable (String) async throws -> [String]

    /// Settings with defaults: invitations beside the file, the default control socket, 5 s per step.
    package init(
        configPath: String = "service.toml",
        invitationsPath: String? = nil,
        controlPath: String? = nil,
        timeout: Duration = .seconds(5),
        checkServers: Bool = true,
        resolve: @escaping @Sendable (String) async throws -> [String] = SystemResolver.resolve
    ) {
        self.configPath = configPath
        self.invitationsPath = invitationsPath
        self.controlPath = controlPath
        self.timeout = timeout
        self.checkServers = checkServers
        self.resolve = resolve
    }

    /// The invitations folder to check: ``invitationsPath``, or `invitations` beside the configuration file.
    var invitationsFolder: String {
        if let invitationsPath { return invitationsPath }
        guard let slash = configPath.lastIndex(of: "/") else { return "invitations" }
        return String(configPath[...slash]) + "invitations"
    }
}
