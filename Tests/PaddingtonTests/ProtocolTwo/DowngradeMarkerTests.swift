import Foundation
import Testing
@testable import Paddington
import PaddingtonCrypto

/// The downgrade marker in protocol 1 (paddington-v2 §4): a peer with protocol 2 enabled adds
/// `"protocols":[2]` to the `Handshake` it sends, and refuses a marked `Handshake` on a connection
/// whose negotiation says the other side did not use protocol 2. A per-client requirement of protocol
/// 2 refuses a protocol 1 handshake once frame 1 identifies the client.
@Suite("Protocol 1 downgrade marker")
struct DowngradeMarkerTests {
    let keys = EnvelopeKeys.generate()
    let salts = ConnectionSalts.generate()
    let skOut = SecretKey.generate()
    let skIn = SecretKey.generate()
    let identity = EngineIdentity(engine: "swift-paddington", version: "0.2.0")

    /// A server with protocol 2 enabled that got no offer (or one without 2): protocol 1, marked.
    let serverMarked: NegotiatedProtocol
    /// A client that offered 2 and got no selection: protocol 1, marked.
    let clientMarked: NegotiatedProtocol
    /// Protocol 2 off (or a Rust peer).
    let off = NegotiatedProtocol.rustCompatible

    init() throws {
        serverMarked = try NegotiatedProtocol.server(headerValues: [], policy: .auto).get()
        clientMarked = try NegotiatedProtocol.client(offered: "2", selectionValues: [], policy: .auto, server: "echo-server")
    }

    var masked: ConnectionSalts {
        get throws {
            let values = salts.maskedHeaderValues(keys: keys)
            return try ConnectionSalts.parseHeaders(innerHeader: values.inner, outerHeader: values.outer)
        }
    }

    var serverEntry: ServerEntry {
        get throws { ServerEntry(name: "echo-server", url: try WebSocketURL(parsing: "ws://127.0.0.1:6501/"), zone: "default", keys: keys) }
    }

    func clientEntry(policy: ProtocolPolicy? = nil) throws -> ClientEntry {
        ClientEntry(name: "echo-client", allowance: try IPAllowance(parsing: "127.0.0.1"), zone: "default", keys: keys, protocolPolicy: policy)
    }

    func client(_ negotiation: NegotiatedProtocol) throws -> ClientHandshake {
        ClientHandshake(localName: "echo-client", server: try serverEntry, identity: identity, negotiation: negotiation, sessionOuterKey: skOut, salts: salts)
    }

    func server(_ negotiation: NegotiatedProtocol, clientPolicy: ProtocolPolicy? = nil, servicePolicy: ProtocolPolicy = .auto) throws -> ServerHandshake {
        ServerHandshake(
            localName: "echo-server", candidates: [try clientEntry(policy: clientPolicy)], maskedSalts: try masked, identity: identity,
            negotiation: negotiation, servicePolicy: servicePolicy, sessionInnerKey: skIn)
    }

    /// Frame 1 or 2 carrying this Handshake JSON.
    func frame1(_ json: String) -> [UInt8] { Envelope.seal(Array(json.utf8), keys: keys, salts: salts) }
    func frame2(_ json: String) -> [UInt8] { Envelope.seal(Array(json.utf8), keys: EnvelopeKeys(inner: keys.inner, outer: skOut), salts: salts) }
    func openFrame1(_ frame: [UInt8]) throws -> String { String(decoding: try Envelope.open(frame, keys: keys, salts: salts), as: UTF8.self) }
    func openFrame2(_ frame: [UInt8]) throws -> String {
        String(decoding: try Envelope.open(frame, keys: EnvelopeKeys(inner: keys.inner, outer: skOut), salts: salts), as: UTF8.self)
    }

    static func sent(_ actions: [HandshakeAction]) -> [UInt8]? {
        for case .send(let bytes) in actions { return bytes }
        return nil
    }

    static func failure(_ actions: [HandshakeAction]) -> PaddingtonError? {
        for case .fail(let error) in actions { return error }
        return nil
    }

    /// A Handshake JSON with `rest` after the existing fields.
    func helloJSON(key: SecretKey, _ rest: String = "") -> String {
        #"{"session_key":{"data":"\#(key.exposeHex())"},"engine":"swift-paddington","version":"0.2.0"\#(rest)}"#
    }

    // MARK: The JSON

    @Test("the marker follows the existing fields; without it the JSON is the Rust crate's")
    func layout() throws {
        let key = try SecretKey(hex: String(repeating: "ab", count: 32))
        let plain = WireMessage.Hello(sessionKey: key, engine: "paddington", version: "0.32.2")
        let hex = String(repeating: "ab", count: 32)
        #expect(String(decoding: plain.json(), as: UTF8.self) == #"{"session_key":{"data":"\#(hex)"},"engine":"paddington","version":"0.32.2"}"#)
        var marked = plain
        marked.protocols = [2]
        #expect(String(decoding: marked.json(), as: UTF8.self) == #"{"session_key":{"data":"\#(hex)"},"engine":"paddington","version":"0.32.2","protocols":[2]}"#)
        marked.protocols = [3, 2]
        #expect(String(decoding: marked.json(), as: UTF8.self).hasSuffix(#""version":"0.32.2","protocols":[3,2]}"#))
        marked.protocols = []
        #expect(String(decoding: marked.json(), as: UTF8.self).hasSuffix(#""protocols":[]}"#))
    }

    @Test("read with the flag, the marker is parsed; without it, ignored")
    func reading() throws {
        let key = SecretKey.generate()
        let json = Array(helloJSON(key: key, #","protocols":[2]"#).utf8)
        let read = try WireMessage.Hello.decode(json, readingProtocols: true)
        #expect(read.protocols == [2] && read.supportsProtocolTwo)
        #expect(read.sessionKey == key && read.engine == "swift-paddington" && read.version == "0.2.0")
        let ignored = try WireMessage.Hello.decode(json, readingProtocols: false)
        #expect(ignored.protocols == nil && !ignored.supportsProtocolTwo)
        // Anywhere in the object.
        let first = #"{"protocols":[3,2],"session_key":{"data":"\#(key.exposeHex())"},"engine":"e","version":"v"}"#
        #expect(try WireMessage.Hello.decode(Array(first.utf8), readingProtocols: true).protocols == [3, 2])
        // Unmarked, null, empty or without 2: not a marker of protocol 2.
        for rest in ["", #","protocols":null"#, #","protocols":[]"#, #","protocols":[3]"#, #","protocols":[1,4294967295]"#] {
            let hello = try WireMessage.Hello.decode(Array(helloJSON(key: key, rest).utf8), readingProtocols: true)
            #expect(!hello.supportsProtocolTwo, "\(rest)")
        }
    }

    @Test("a malformed marker is refused only when read", arguments: [
        #""x""#, "[-1]", "[2.5]", "{}", #"["2"]"#, "[2,\"x\"]", "[4294967296]", "true", "2", "[[2]]", "[null]",
    ])
    func malformed(value: String) throws {
        let json = Array(helloJSON(key: SecretKey.generate(), #","protocols":\#(value)"#).utf8)
        let error = #expect(throws: PaddingtonError.self) { try WireMessage.Hello.decode(json, readingProtocols: true) }
        #expect(error?.code == .protocolViolation, "\(value)")
        #expect(error?.message.contains("protocols") == true)
        let ignored = try WireMessage.Hello.decode(json, readingProtocols: false)
        #expect(ignored.protocols == nil, "\(value)")
    }

    // MARK: The server machine

    @Test("server: frame 1 marked on a connection negotiated to 1 with protocol 2 enabled is a downgrade")
    func serverDetects() throws {
        var client = try client(clientMarked)
        let frame = try #require(Self.sent(client.upgraded()))
        #expect(try openFrame1(frame).hasSuffix(#","protocols":[2],"agent":1}"#), "a client with protocol 2 enabled marks frame 1 (and announces agent frames after the mark)")
        var server = try server(serverMarked)
        let actions = server.receive(frame)
        let error = try #require(Self.failure(actions))
        #expect(error.code == .downgradeDetected)
        #expect(error.message.contains("echo-client"))
        #expect(Self.sent(actions) == nil, "no frame 2")
        #expect(server.authenticatedClient?.name == "echo-client")
    }

    @Test("server: with protocol 2 off, a marked frame 1 (even a malformed marker) is an ordinary protocol 1 frame 1")
    func serverOff() throws {
        for json in [helloJSON(key: skOut, #","protocols":[2]"#), helloJSON(key: skOut, #","protocols":"x""#)] {
            var server = try server(off, servicePolicy: .off)
            let frame2 = try #require(Self.sent(server.receive(frame1(json))), "\(json)")
            let text = try openFrame2(frame2)
            #expect(!text.contains("protocols"), "a server with protocol 2 off does not mark frame 2")
        }
    }

    @Test("server: with protocol 2 enabled, an unmarked frame 1 is served and frame 2 is marked")
    func serverMarks() throws {
        var client = try client(off)
        let frame = try #require(Self.sent(client.upgraded()))
        let text = try openFrame1(frame)
        #expect(!text.contains("protocols"), "a client with protocol 2 off does not mark frame 1")
        var server = try server(serverMarked)
        let frame2 = try #require(Self.sent(server.receive(frame)))
        #expect(try openFrame2(frame2).hasSuffix(#""version":"0.2.0","protocols":[2],"agent":1}"#))
    }

    @Test("server: with protocol 2 enabled, a malformed marker fails frame 1", arguments: [#""x""#, "[-1]", "[2.5]", "{}"])
    func serverMalformed(value: String) throws {
        var server = try server(serverMarked)
        let actions = server.receive(frame1(helloJSON(key: skOut, #","protocols":\#(value)"#)))
        #expect(Self.failure(actions)?.code == .protocolViolation, "\(actions)")
        #expect(Self.sent(actions) == nil)
    }

    @Test("server: a client that must use protocol 2 is refused on protocol 1 once frame 1 identifies it", arguments: [
        (ProtocolPolicy?.some(.require), ProtocolPolicy.auto, true),
        (.none, .require, true),
        (.some(.require), .off, true),
        (.some(.auto), .require, false),
        (.some(.off), .require, false),
        (.none, .auto, false),
    ])
    func perClientRequire(clientPolicy: ProtocolPolicy?, servicePolicy: ProtocolPolicy, refused: Bool) throws {
        let negotiation = servicePolicy == .off ? off : serverMarked
        var client = try client(off)
        var server = try server(negotiation, clientPolicy: clientPolicy, servicePolicy: servicePolicy)
        let actions = server.receive(try #require(Self.sent(client.upgraded())))
        if refused {
            let error = try #require(Self.failure(actions), "\(actions)")
            #expect(error.code == .protocolVersionMismatch)
            #expect(error.message.contains("echo-client") && error.message.contains("protocol 2"))
            #expect(Self.sent(actions) == nil)
            #expect(server.identifiedPeer == PeerID(name: "echo-client", zone: "default"))
        } else {
            #expect(Self.sent(actions) != nil, "\(actions)")
        }
    }

    // MARK: The client machine

    @Test("client: frame 2 marked after offering and getting no selection is a downgrade")
    func clientDetects() throws {
        var client = try client(clientMarked)
        _ = client.upgraded()
        let actions = client.receive(frame2(helloJSON(key: skIn, #","protocols":[2]"#)))
        let error = try #require(Self.failure(actions))
        #expect(error.code == .downgradeDetected)
        #expect(error.message.contains("echo-server"))
        #expect(Self.sent(actions) == nil, "no frame 3")
    }

    @Test("client: without an offer, a marked frame 2 (even a malformed marker) is ordinary")
    func clientOff() throws {
        for rest in [#","protocols":[2]"#, #","protocols":[-1]"#] {
            var client = try client(off)
            _ = client.upgraded()
            #expect(Self.sent(client.receive(frame2(helloJSON(key: skIn, rest)))) != nil, "\(rest)")
        }
    }

    @Test("client: after offering, an unmarked frame 2 goes on; a malformed marker fails frame 2")
    func clientMarkedOutcomes() throws {
        var plain = try client(clientMarked)
        _ = plain.upgraded()
        #expect(Self.sent(plain.receive(frame2(helloJSON(key: skIn)))) != nil)
        for value in [#""x""#, "[-1]", "[2.5]", "{}"] {
            var client = try client(clientMarked)
            _ = client.upgraded()
            #expect(Self.failure(client.receive(frame2(helloJSON(key: skIn, #","protocols":\#(value)"#))))?.code == .protocolViolation, "\(value)")
        }
    }

    // MARK: Both machines

    @Test("protocol 1 back to back: marked against off and off against marked complete; marked against marked is a downgrade", arguments: [
        (false, false, true), (true, false, true), (false, true, true), (true, true, false),
    ])
    func backToBack(clientEnabled: Bool, serverEnabled: Bool, completes: Bool) throws {
        var client = try client(clientEnabled ? clientMarked : off)
        var server = try server(serverEnabled ? serverMarked : off, servicePolicy: serverEnabled ? .auto : .off)
        var clientActions = client.upgraded()
        var serverActions: [HandshakeAction] = []
        var clientDone: V2Outcome?
        var serverDone: V2Outcome?
        for _ in 0..<16 where !(clientActions.isEmpty && serverActions.isEmpty) {
            var nextServer: [HandshakeAction] = []
            var nextClient: [HandshakeAction] = []
            for action in clientActions {
                switch action {
                case .send(let frame): nextServer += server.receive(frame)
                case .established(let session): clientDone = .established(session)
                case .fail(let error): clientDone = .failed(error)
                default: Issue.record("client: \(action)")
                }
            }
            for action in serverActions {
                switch action {
                case .send(let frame): nextClient += client.receive(frame)
                case .decideStandby: nextServer += server.standbyDecided(.primary)
                case .established(let session): serverDone = .established(session)
                case .fail(let error): serverDone = .failed(error)
                default: Issue.record("server: \(action)")
                }
            }
            clientActions = nextClient
            serverActions = nextServer
        }
        if completes {
            #expect(clientDone?.session?.peerName == "echo-server", "\(String(describing: clientDone))")
            #expect(serverDone?.session?.peerName == "echo-client", "\(String(describing: serverDone))")
            #expect(clientDone?.session?.codec.protocolVersion == 1)
        } else {
            #expect(serverDone?.error?.code == .downgradeDetected, "\(String(describing: serverDone))")
            #expect(clientDone == nil)
        }
    }
}
