import Foundation
import Testing
@testable import Paddington
import PaddingtonCrypto

/// The handshake state machines, driven with the shared transcript (no I/O): both roles must
/// produce exactly the transcript's plaintexts and accept the transcript's frames.
@Suite("Handshake state machines against the shared transcript")
struct HandshakeTests {
    struct Transcript: Decodable {
        struct Inputs: Decodable {
            let psk_inner, psk_outer, salt_inner, salt_outer, session_outer_key_client, session_inner_key_server: String
        }
        struct Step: Decodable { let plaintext_json, frame: String }
        let inputs: Inputs
        let headers: [String: String]
        let transcript: [Step]
    }

    let t: Transcript
    let psk: EnvelopeKeys
    let salts: ConnectionSalts
    let skOut: SecretKey
    let skIn: SecretKey
    /// The Rust crate's identity: it announces no agent frames, so its frames match the transcript.
    let rust: EngineIdentity = {
        var identity = EngineIdentity(engine: "paddington", version: "0.32.2")
        identity.announcesAgentFrames = false
        return identity
    }()

    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../PaddingtonCryptoTests/Fixtures/paddington-vectors.json")
        t = try JSONDecoder().decode(Transcript.self, from: try Data(contentsOf: url))
        psk = EnvelopeKeys(inner: try SecretKey(hex: t.inputs.psk_inner), outer: try SecretKey(hex: t.inputs.psk_outer))
        salts = ConnectionSalts(inner: Hex.decode(t.inputs.salt_inner) ?? [], outer: Hex.decode(t.inputs.salt_outer) ?? [])
        skOut = try SecretKey(hex: t.inputs.session_outer_key_client)
        skIn = try SecretKey(hex: t.inputs.session_inner_key_server)
    }

    var serverEntry: ServerEntry {
        get throws { ServerEntry(name: "echo-server", url: try WebSocketURL(parsing: "ws://localhost:6501/"), zone: "default", keys: psk) }
    }
    var clientEntry: ClientEntry {
        get throws { ClientEntry(name: "echo-client", allowance: try IPAllowance(parsing: "127.0.0.1"), zone: "default", keys: psk) }
    }

    func frame(_ step: Int) -> [UInt8] { Array(t.transcript[step].frame.utf8) }
    func plaintext(_ step: Int) -> String { t.transcript[step].plaintext_json }
    func open(_ frame: [UInt8], _ keys: EnvelopeKeys) throws -> String {
        String(decoding: try Envelope.open(frame, keys: keys, salts: salts), as: UTF8.self)
    }

    func sent(_ actions: [HandshakeAction]) -> [UInt8]? {
        for case .send(let bytes) in actions { return bytes }
        return nil
    }

    @Test("client: headers, frame 1 and frame 3 match the transcript; frames 2 and 4 are accepted")
    func client() throws {
        var machine = ClientHandshake(localName: "echo-client", server: try serverEntry, identity: rust, sessionOuterKey: skOut, salts: salts)
        let headers = Dictionary(uniqueKeysWithValues: machine.upgradeHeaders)
        #expect(headers == t.headers)

        let frame1 = try #require(sent(machine.upgraded()))
        #expect(try open(frame1, psk) == plaintext(0))

        let frame3 = try #require(sent(machine.receive(frame(1))))
        #expect(try open(frame3, EnvelopeKeys(inner: skIn, outer: skOut)) == plaintext(2))

        let actions = machine.receive(frame(3))
        guard case .established(let session)? = actions.first else {
            Issue.record("expected established, got \(actions)")
            return
        }
        #expect(session.peerName == "echo-server")
        #expect(session.peerEngine == "paddington" && session.peerVersion == "0.32.2")
        #expect(session.keys == EnvelopeKeys(inner: skIn, outer: skOut))
        // The session keys open the transcript's payload frames.
        #expect(try open(frame(5), session.keys) == plaintext(5))
    }

    @Test("server: frame 1 authenticates the client; frames 2 and 4 match the transcript")
    func server() throws {
        let masked = try ConnectionSalts.parseHeaders(innerHeader: t.headers["openportal-inner-salt"], outerHeader: t.headers["openportal-outer-salt"])
        let stranger = ClientEntry(name: "other", allowance: try IPAllowance(parsing: "127.0.0.1"), zone: "default", keys: .generate())
        var machine = ServerHandshake(localName: "echo-server", candidates: [stranger, try clientEntry], maskedSalts: masked,
                                      identity: rust, sessionInnerKey: skIn)
        let frame2 = try #require(sent(machine.receive(frame(0))))
        #expect(try open(frame2, EnvelopeKeys(inner: psk.inner, outer: skOut)) == plaintext(1))
        #expect(machine.authenticatedClient?.name == "echo-client")

        let decide = machine.receive(frame(2))
        guard case .decideStandby(let name, let zone)? = decide.first else {
            Issue.record("expected a standby decision, got \(decide)")
            return
        }
        #expect(name == "echo-client" && zone == "default")
        let actions = machine.standbyDecided(.primary)
        let frame4 = try #require(sent(actions))
        #expect(try open(frame4, EnvelopeKeys(inner: skIn, outer: skOut)) == plaintext(3))
        guard case .established(let session)? = actions.last else {
            Issue.record("expected established")
            return
        }
        #expect(session.keys == EnvelopeKeys(inner: skIn, outer: skOut))
        #expect(try open(frame(4), session.keys) == plaintext(4))
    }

    @Test("server: frame 1 under unknown keys fails authentication")
    func serverWrongKeys() throws {
        let masked = try ConnectionSalts.parseHeaders(innerHeader: t.headers["openportal-inner-salt"], outerHeader: t.headers["openportal-outer-salt"])
        var wrong = try clientEntry
        wrong.keys = .generate()
        var machine = ServerHandshake(localName: "echo-server", candidates: [wrong], maskedSalts: masked, identity: rust)
        guard case .fail(let error)? = machine.receive(frame(0)).first else { Issue.record("expected failure"); return }
        #expect(error.code == .authenticationFailed)
    }

    @Test("server: garbage frame 1 is malformed, not an authentication attempt")
    func serverGarbage() throws {
        var machine = ServerHandshake(localName: "s", candidates: [try clientEntry], maskedSalts: salts, identity: rust)
        guard case .fail(let error)? = machine.receive(Array("not hex at all".utf8)).first else { Issue.record("expected failure"); return }
        #expect(error.code == .malformedFrame)
    }

    @Test("server: PeerDetails with the wrong name, zone or version is refused", arguments: [
        ("intruder", "default", 2, PaddingtonError.Code.peerNameMismatch),
        ("echo-client", "other", 2, .peerZoneMismatch),
        ("echo-client", "default", 1, .protocolVersionMismatch),
    ])
    func serverDetails(name: String, zone: String, version: Int, expected: PaddingtonError.Code) throws {
        var machine = ServerHandshake(localName: "echo-server", candidates: [try clientEntry],
                                      maskedSalts: try ConnectionSalts.parseHeaders(innerHeader: t.headers["openportal-inner-salt"], outerHeader: t.headers["openportal-outer-salt"]),
                                      identity: rust, sessionInnerKey: skIn)
        _ = machine.receive(frame(0))
        let details = WireMessage.PeerDetails(name: name, zone: zone, version: version, standby: .primary)
        let frame3 = Envelope.seal(details.json(), keys: EnvelopeKeys(inner: skIn, outer: skOut), salts: salts)
        guard case .fail(let error)? = machine.receive(frame3).first else { Issue.record("expected failure"); return }
        #expect(error.code == expected)
    }

    @Test("client: a server claiming another name or zone is refused", arguments: [
        ("impostor", "default", PaddingtonError.Code.peerNameMismatch), ("echo-server", "elsewhere", .peerZoneMismatch),
    ])
    func clientDetails(name: String, zone: String, expected: PaddingtonError.Code) throws {
        var machine = ClientHandshake(localName: "echo-client", server: try serverEntry, identity: rust, sessionOuterKey: skOut, salts: salts)
        _ = machine.upgraded()
        _ = machine.receive(frame(1))
        let details = WireMessage.PeerDetails(name: name, zone: zone, version: 2, standby: .primary)
        let frame4 = Envelope.seal(details.json(), keys: EnvelopeKeys(inner: skIn, outer: skOut), salts: salts)
        guard case .fail(let error)? = machine.receive(frame4).first else { Issue.record("expected failure"); return }
        #expect(error.code == expected)
    }

    @Test("client: frame 2 that does not open under (PSK_inner, SK_out) fails authentication")
    func clientImpostorServer() throws {
        var machine = ClientHandshake(localName: "echo-client", server: try serverEntry, identity: rust, sessionOuterKey: .generate(), salts: salts)
        _ = machine.upgraded()
        guard case .fail(let error)? = machine.receive(frame(1)).first else { Issue.record("expected failure"); return }
        #expect(error.code == .authenticationFailed)
    }

    @Test("standby: client polls while secondary, then becomes primary; server_is_secondary aborts")
    func standby() throws {
        let sessionKeys = EnvelopeKeys(inner: skIn, outer: skOut)
        var machine = ClientHandshake(localName: "echo-client", server: try serverEntry, identity: rust, sessionOuterKey: skOut, salts: salts)
        _ = machine.upgraded()
        _ = machine.receive(frame(1))
        let secondary = WireMessage.PeerDetails(name: "echo-server", zone: "default", version: 2, standby: .secondaryClient)
        let wait = machine.receive(Envelope.seal(secondary.json(), keys: sessionKeys, salts: salts))
        guard case .waitThenPoll(let delay)? = wait.first else { Issue.record("expected to wait, got \(wait)"); return }
        #expect(delay == .seconds(1))
        let poll = try #require(sent(machine.standbyTimerFired()))
        #expect(try open(poll, sessionKeys) == "{}")
        let primary = machine.receive(Envelope.seal(WireMessage.Standby.primary.json(), keys: sessionKeys, salts: salts))
        guard case .established? = primary.first else { Issue.record("expected established, got \(primary)"); return }

        var refused = ClientHandshake(localName: "echo-client", server: try serverEntry, identity: rust, sessionOuterKey: skOut, salts: salts)
        _ = refused.upgraded()
        _ = refused.receive(frame(1))
        let serverSecondary = WireMessage.PeerDetails(name: "echo-server", zone: "default", version: 2, standby: .secondaryServer)
        guard case .fail(let error)? = refused.receive(Envelope.seal(serverSecondary.json(), keys: sessionKeys, salts: salts)).first else {
            Issue.record("expected failure"); return
        }
        #expect(error.code == .standbyRefused)
    }

    @Test("server: a standby client's poll gets a StandbyStatus until it is primary")
    func serverStandby() throws {
        let masked = try ConnectionSalts.parseHeaders(innerHeader: t.headers["openportal-inner-salt"], outerHeader: t.headers["openportal-outer-salt"])
        var machine = ServerHandshake(localName: "echo-server", candidates: [try clientEntry], maskedSalts: masked, identity: rust, sessionInnerKey: skIn)
        let keys = EnvelopeKeys(inner: skIn, outer: skOut)
        _ = machine.receive(frame(0))
        _ = machine.receive(frame(2))
        let reply = try #require(sent(machine.standbyDecided(.secondaryClient)))
        #expect(try open(reply, keys).contains(#""client_is_secondary":true"#))
        let decide = machine.receive(Envelope.seal(Array("{}".utf8), keys: keys, salts: salts))
        guard case .decideStandby? = decide.first else { Issue.record("expected a decision"); return }
        let final = machine.standbyDecided(.primary)
        #expect(try open(try #require(sent(final)), keys) == #"{"server_is_secondary":false,"client_is_secondary":false}"#)
        guard case .established? = final.last else { Issue.record("expected established"); return }
    }
}
