extension Mesh {
    /// The invitation for `client`, a client admitted in ``configuration``, with the URL filled in from
    /// the running listener when needed.
    ///
    /// When the configuration's URL has port 0 (a service on port 0 whose URL was not given, such as
    /// `ServiceConfiguration(name: "server")` with clients admitted by
    /// ``ServiceConfiguration/admitClient(_:allowing:zone:keys:)``), this waits until ``run()`` has
    /// bound the listener and puts the bound port into the URL. Otherwise it returns at once, as
    /// ``ServiceConfiguration/invitation(for:zone:)`` does.
    ///
    /// ```swift
    /// var configuration = try ServiceConfiguration(name: "coordinator")      // port 0: a free port
    /// try configuration.admitClient("worker-1", allowing: try IPAllowance(parsing: "127.0.0.1"))
    /// let mesh = Mesh(configuration: configuration, logger: logger)
    /// // ... run the mesh (a ServiceGroup, or a child task), then:
    /// try await mesh.invitation(for: "worker-1").save(to: "worker-1.toml")
    /// ```
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when there is no such client or
    ///   the URL cannot be dialled (its host is `0.0.0.0` or `::`);
    ///   `PaddingtonError.Code.shutdown` when the mesh stops before it listens.
    public nonisolated func invitation(for client: String, zone: String? = nil) async throws -> Invitation {
        guard configuration.url.port == 0 else {
            return try configuration.invitation(for: client, zone: zone)
        }
        _ = try configuration.client(client, zone: zone)
        let port = try await listeningPort()
        return try configuration.invitation(for: client, zone: zone, boundPort: port)
    }
}
