import Paddington

/// The configuration file of a running agent: reloads it into the mesh, and writes back the changes the
/// mesh makes to its own configuration. One at a time, so that a reload reads what was written before.
actor ConfigurationFile {
    let path: String

    init(path: String) {
        self.path = path
    }

    /// Re-reads the file and puts it in force. A file that does not load changes nothing.
    /// `protocolPolicy` is `paddington run --protocol`, which overrides the file's as at the start.
    func reload(into mesh: Mesh, reconnectNow: Bool, protocolPolicy: ProtocolPolicy?) async throws -> ReloadSummary {
        // The mesh's own changes reach the file first, or the reload would undo them.
        await mesh.configurationChangesSaved()
        var configuration = try ConfigurationLock.withLock(path) { try ServiceConfiguration.load(from: path) }
        if let protocolPolicy { configuration.protocolPolicy = protocolPolicy }
        return try mesh.reload(configuration, reconnectNow: reconnectNow)
    }

    /// Applies `change` to the file as it is now (the operator may have edited it) and saves it (0600).
    func save(_ change: ConfigurationChange) throws {
        try ConfigurationLock.withLock(path) {
            var configuration = try ServiceConfiguration.load(from: path)
            change.apply(to: &configuration)
            try configuration.save(to: path)
        }
    }
}
