import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Paddington
import ServiceLifecycle

/// A running agent's control socket: a Unix domain socket, mode 0600, on which `paddington status`,
/// `ping`, `call` and `send` (or any program) drive the agent's ``Paddington/Mesh`` with one JSON
/// command per line (``ControlRequest``) and read one JSON response per line (``ControlResponse``).
///
/// Run it beside the mesh in the same `ServiceGroup`; it removes its socket when it stops. A command
/// that is not JSON, or not a command, gets a failure response and the connection stays open; a line
/// over ``Configuration/maxLineBytes`` gets one and the connection is closed. A client that disconnects
/// while its command runs cancels it (a request in flight is cancelled at the peer too).
public actor ControlServer: Service {
    /// Limits of the control socket.
    public struct Configuration: Sendable {
        /// The socket's path (see ``ControlPath``).
        public var path: String
        /// Connections served at once; one more is closed at once.
        public var maxConnections: Int
        /// The longest command line accepted.
        public var maxLineBytes: Int

        /// A control socket at `path`.
        public init(path: String, maxConnections: Int = 16, maxLineBytes: Int = 1 << 20) {
            self.path = path
            self.maxConnections = maxConnections
            self.maxLineBytes = maxLineBytes
        }
    }

    private let configuration: Configuration
    private let handler: ControlHandler
    private let logger: Logger
    private let group: any EventLoopGroup
    private var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    private var isBound = false
    private var bindError: (any Error)?

    /// What the `reload` command runs: re-read the configuration and put it in force (re-dialling
    /// changed servers at once when its argument is true), returning what changed.
    public typealias Reload = @Sendable (_ reconnectNow: Bool) async throws -> ReloadSummary

    /// A control server for `mesh`. Without `reload`, the `reload` command is refused.
    public init(
        mesh: Mesh, configuration: Configuration, reload: Reload? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        handler = ControlHandler(mesh: mesh, startedAt: .now, reload: reload)
        self.logger = logger
        group = eventLoopGroup
    }

    /// Returns once the socket accepts connections.
    ///
    /// - Throws: why it could not be bound.
    public func waitUntilListening() async throws {
        if isBound { return }
        if let bindError { throw bindError }
        try await withCheckedThrowingContinuation { readyWaiters.append($0) }
    }

    private func listening(_ error: (any Error)?) {
        if let error { bindError = error } else { isBound = true }
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    /// Binds the socket and serves until graceful shutdown (or cancellation), then removes it.
    ///
    /// - Throws: `PaddingtonError.Code.fileSystem` when the path is taken by a running agent or by a
    ///   file that is not a socket, or its directory is not private; `PaddingtonError.Code.transport`
    ///   when binding fails.
    public func run() async throws {
        let path = configuration.path
        let server: NIOAsyncChannel<ChannelClaim<ByteBuffer, ByteBuffer>, Never>
        let published: ControlSocketFile.Identity?
        do {
            try ControlPath.prepareDirectory(of: path)
            try ControlSocketFile.clear(path)
            // Bound in a private directory, made 0600, then linked into place (never over another file).
            let place = try ControlSocketFile.privateBindPath(beside: path)
            let bindPath = place?.socket ?? path
            do {
                server = try await ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 32)
                    .bind(unixDomainSocketPath: bindPath) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            ChannelClaim(try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel))
                        }
                    }
            } catch {
                if let place { rmdir(place.directory) }
                throw error
            }
            do {
                guard chmod(bindPath, 0o600) == 0 else {
                    throw PaddingtonError(.fileSystem, "cannot make the control socket \(path) private (mode 0600)")
                }
                if let place { try ControlSocketFile.publish(place.socket, directory: place.directory, at: path) }
            } catch {
                try? await server.channel.close()
                if let place { unlink(place.socket); rmdir(place.directory) }
                throw error
            }
            published = ControlSocketFile.identity(of: path)
        } catch {
            let failure = (error as? PaddingtonError) ?? PaddingtonError(.transport, "cannot bind the control socket at \(path)", cause: error)
            listening(failure)
            throw failure
        }
        listening(nil)
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        let handler = self.handler, logger = self.logger, configuration = self.configuration
        // Removed at the end only if the file is still ours (a successor may have taken the path).
        defer { ControlSocketFile.remove(path, ifStill: published) }
        try await AcceptLoop.run(server, maxConnections: configuration.maxConnections, what: "control", logger: logger) { connection in
            await Self.serve(connection, handler: handler, maxLineBytes: configuration.maxLineBytes, logger: logger)
        }
    }

    /// Serves one connection: its commands in order, one response line each.
    private static func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, handler: ControlHandler, maxLineBytes: Int, logger: Logger) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                // Commands read and not yet answered: a client may send ahead; past the limit it waits.
                let (lines, sink) = AsyncStream.makeStream(of: Result<[UInt8], PaddingtonError>.self, bufferingPolicy: .unbounded)
                let room = AsyncSemaphore(limit: Self.maxCommandsWaiting)
                enum End { case clientLeft, refused, answered }
                await withTaskGroup(of: End.self) { group in
                    // The reader: lines in; its end (the client went away) cancels a command in progress.
                    group.addTask {
                        var splitter = LineSplitter(maxLineBytes: maxLineBytes)
                        do {
                            for try await buffer in inbound {
                                handOffFromEventLoop()
                                let (lines, tooLong) = splitter.append(buffer)
                                for line in lines {
                                    // Backpressure: past the limit, the reader waits and the socket fills.
                                    try await room.acquire()
                                    sink.yield(.success(line))
                                }
                                if let tooLong { throw tooLong }
                            }
                        } catch let error as PaddingtonError {
                            // Refused: the commands before it are still answered, then the refusal.
                            sink.yield(.failure(error))
                            sink.finish()
                            return .refused
                        } catch {}
                        sink.finish()
                        return .clientLeft
                    }
                    group.addTask {
                        for await item in lines {
                            let response: ControlResponse
                            switch item {
                            case .success(let line):
                                defer { room.release() }
                                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
                                response = await handler.handle(line)
                            case .failure(let error):
                                try? await outbound.write(Self.encode(.failure(error.code.description, error.message)))
                                return .answered
                            }
                            if Task.isCancelled { return .answered }
                            do {
                                try await outbound.write(Self.encode(response))
                            } catch {
                                return .answered
                            }
                        }
                        return .answered
                    }
                    // The client left: a command in progress is cancelled. The reader refused a line: the
                    // answers before the refusal are written first. The writer stopped: the reader stops.
                    if await group.next() != .refused { group.cancelAll() }
                }
            }
        } catch {
            logger.debug("control connection failed", metadata: ["error": "\(error)"])
        }
    }

    /// Commands of one connection read and waiting for their answers; past it, reading waits.
    static let maxCommandsWaiting = 64

    static func encode(_ response: ControlResponse) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var bytes = (try? encoder.encode(response)) ?? Data(#"{"error":{"code":"internal","message":"unencodable response"},"ok":false}"#.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: bytes)
    }
}
