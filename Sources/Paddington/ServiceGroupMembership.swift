// swift-service-lifecycle has no public way to ask whether the current task runs as a member of a
// ServiceGroup. The graceful-shutdown manager the group installs is a task-local published as SPI for
// its test kit; it is read here, in one place, and only to decide how `Mesh.run()` ends after
// `Mesh.shutdown()` (see its documentation). If a later version removes it, this file is what changes.
@_spi(TestKit) import ServiceLifecycle

enum ServiceGroupMembership {
    /// Whether the current task runs under a ServiceGroup's graceful-shutdown manager.
    static var isInServiceGroup: Bool {
        TaskLocals.gracefulShutdownManager != nil
    }
}
