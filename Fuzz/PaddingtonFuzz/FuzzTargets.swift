// Fuzz targets for everything that reads untrusted bytes.
//
// Built with `scripts/fuzz.sh` (libFuzzer + AddressSanitizer, `-DPADDINGTON_FUZZING`), the binary's
// entry point is libFuzzer's; PADDINGTON_FUZZ_TARGET picks the target. Built normally, it is a plain
// program that replays corpus files given as arguments, so the test suite can run the seed corpus.
import Paddington
import NIOHTTP1
import PaddingtonCrypto

#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String, CaseIterable {
    /// The frame decoder: the envelope, then the payload's JSON string.
    case envelope
    /// Both handshake state machines fed frames: raw bytes, or JSON sealed under the right keys.
    case handshake
    /// Invitation and service configuration parsers.
    case files
    /// IP address and range parser, URL normalisation, names.
    case addresses
    /// Protocol 2 transport frames: the opener fed length-prefixed frames (ProtocolTwoFuzz.swift).
    case v2frame
    /// Protocol 2 Noise handshake: the responder fed message 1, or the initiator fed message 2.
    case v2handshake
    /// Both protocol 2 handshake machines fed frames after a real handshake: PeerDetails and standby
    /// (V2SessionFuzz.swift).
    case v2session
    /// The `openportal-protocol` header through the offer parser and both decisions, and CONTROL
    /// bodies (NegotiationFuzz.swift).
    case negotiation
    /// Agent frames, as protocol 2 bytes and protocol 1 base64 text (AgentFrameFuzz.swift).
    case agentframe
}

/// Fixed keys so that fuzz inputs can reach the code behind decryption.
enum Fixture {
    static let psk = EnvelopeKeys(inner: key(1), outer: key(2))
    static let session = EnvelopeKeys(inner: key(3), outer: key(4))
    static let salts = ConnectionSalts(inner: [UInt8](repeating: 5, count: 32), outer: [UInt8](repeating: 6, count: 32))
    static let cipher = EnvelopeCipher(keys: session, salts: salts)
    /// The infos of hand-made frames, and the outer key they give.
    static let infos = [UInt8](repeating: 7, count: 32) + [UInt8](repeating: 8, count: 32)
    static let outerKey = session.outer.derive(salt: salts.outer, info: Array(infos[32...]))

    static func key(_ byte: UInt8) -> SecretKey {
        do { return try SecretKey(bytes: [UInt8](repeating: byte, count: 32)) } catch { preconditionFailure("fixture key") }
    }

    /// Made on each use, not kept in a `static let`: LeakSanitizer does not see the array inside the
    /// enum payloads of a global as reachable, and reported it as a leak when the fuzzer exited.
    static var everyAddress: IPAllowance {
        do { return try .range(network: .v6([UInt8](repeating: 0, count: 16)), prefixLength: 0) } catch { preconditionFailure("fixture range") }
    }

    static var client: ClientEntry {
        ClientEntry(name: "client", allowance: everyAddress, zone: "default", keys: psk)
    }

    static var server: ServerEntry? {
        guard let url = try? WebSocketURL(parsing: "ws://127.0.0.1:1/") else { return nil }
        return ServerEntry(name: "server", url: url, zone: "default", keys: psk)
    }
}

func fuzzOne(_ target: FuzzTarget, _ data: [UInt8]) {
    switch target {
    case .envelope:
        // The bytes as a frame, through the per-link cipher and the static open: same JSON or same error.
        let json = openBoth(data)
        if let json { _ = try? JSONString.decode(json) }
        // The bytes as the outer layer's plaintext of a frame under the right keys, so that the inner
        // layer's paths (a plain "hex" string, escapes, bad hex, wrong tags) are reached.
        if !data.isEmpty {
            _ = openBoth(frame(outerPlaintext: data))
        }
        // The same bytes as the JSON inside a valid frame, sealed by either path.
        if !data.isEmpty {
            for frame in [Fixture.cipher.seal(json: data), Envelope.seal(data, keys: Fixture.session, salts: Fixture.salts)] {
                precondition(openBoth(frame) == data, "envelope round trip changed the plaintext")
            }
        }
        _ = Hex.decode(String(decoding: data, as: UTF8.self))
        // Every hex codec this machine runs agrees with the portable one.
        let even = Array(data.prefix(data.count & ~1))
        even.withUnsafeBytes { input in
            var expected = [UInt8](repeating: 0, count: even.count / 2)
            let failure = expected.withUnsafeMutableBytes { Hex.decode(input, into: $0) }
            var encoded = [UInt8](repeating: 0, count: 2 * even.count)
            encoded.withUnsafeMutableBytes { Hex.encode(input, into: $0) }
            for codec in HexCodec.available {
                var got = [UInt8](repeating: 0, count: even.count / 2)
                precondition(got.withUnsafeMutableBytes { codec.decode(input, into: $0) } == failure, "\(codec) decode disagrees")
                precondition(failure != nil || got == expected, "\(codec) decoded other bytes")
                var text = [UInt8](repeating: 0, count: 2 * even.count)
                text.withUnsafeMutableBytes { codec.encode(input, into: $0) }
                precondition(text == encoded, "\(codec) encode disagrees")
            }
        }

    case .handshake:
        // Frames are separated by 0xFF; a leading 0x01 on a frame means "seal this JSON first".
        let frames = data.split(separator: 0xFF, omittingEmptySubsequences: false).map(Array.init)
        var server = ServerHandshake(localName: "server", candidates: [Fixture.client], maskedSalts: masked(), identity: EngineIdentity(),
                                     sessionInnerKey: Fixture.session.inner)
        var client: ClientHandshake?
        if let entry = Fixture.server {
            client = ClientHandshake(localName: "client", server: entry, identity: EngineIdentity(), sessionOuterKey: Fixture.session.outer,
                                     salts: Fixture.salts)
            _ = client?.upgraded()
        }
        for (index, frame) in frames.enumerated() {
            let bytes = prepare(frame, step: index)
            for action in server.receive(bytes) {
                if case .decideStandby = action { _ = server.standbyDecided(index % 2 == 0 ? .primary : .secondaryClient) }
            }
            if let actions = client?.receive(bytes) {
                for action in actions {
                    if case .waitThenPoll = action { _ = client?.standbyTimerFired() }
                }
            }
        }

    case .files:
        let text = String(decoding: data, as: UTF8.self)
        _ = try? Invitation.parse(text)
        _ = try? ServiceConfiguration.parse(text)
        if let config = try? ServiceConfiguration.parse(text) {
            precondition((try? ServiceConfiguration.parse(config.rendered())) == config, "configuration did not round trip")
        }

    case .addresses:
        let text = String(decoding: data, as: UTF8.self)
        if let allowance = try? IPAllowance(parsing: text) {
            for peer in ["10.1.2.3", "::ffff:10.1.2.3", "fd00:1::5", "::"] {
                if let address = IPAddress(peer) { _ = allowance.allows(address) }
            }
            precondition((try? IPAllowance(parsing: allowance.description)) == allowance, "an IP allowance did not round trip")
        }
        _ = IPAddress(text)?.description
        // A trusted proxy's header: refused or an address, never a crash.
        var headers = HTTPHeaders()
        headers.add(name: "X-Real-IP", value: text)
        if let loopback = IPAddress("127.0.0.1") {
            _ = try? ProxyHeaderRule(header: "X-Real-IP", trustedProxies: [.address(loopback)]).source(of: headers, connectedFrom: loopback)
        }
        if let url = try? WebSocketURL(parsing: text) {
            precondition((try? WebSocketURL(parsing: url.description))?.description == url.description, "URL normalisation is not idempotent")
        }
        _ = Names.problem(withName: text)
        _ = Names.problem(withZone: text)

    case .v2frame:
        fuzzProtocolTwoFrame(data)

    case .v2handshake:
        fuzzProtocolTwoHandshake(data)

    case .v2session:
        fuzzProtocolTwoSession(data)

    case .negotiation:
        fuzzNegotiation(data)

    case .agentframe:
        fuzzAgentFrame(data)
    }
}

/// Opens `frame` with the per-link cipher and with the static call, which must agree: the same JSON,
/// or errors with the same code and message.
private func openBoth(_ frame: [UInt8]) -> [UInt8]? {
    let viaCipher = Result { try Fixture.cipher.open(frame) }
    let viaStatic = Result { try Envelope.open(frame, keys: Fixture.session, salts: Fixture.salts) }
    switch (viaCipher, viaStatic) {
    case (.success(let a), .success(let b)):
        precondition(a == b, "the cipher and the static open returned different JSON")
        return a
    case (.failure(let a), .failure(let b)):
        let a = a as? PaddingtonError, b = b as? PaddingtonError
        precondition(a != nil && a?.code == b?.code && a?.message == b?.message, "the cipher and the static open failed differently")
        return nil
    default:
        preconditionFailure("one of the cipher and the static open failed, the other did not")
    }
}

/// A frame whose outer layer seals `plaintext` under the fixture's session keys and infos.
private func frame(outerPlaintext plaintext: [UInt8]) -> [UInt8] {
    let nonce = [UInt8](repeating: 9, count: Sodium.aeadNonceBytes)
    var sealed = [UInt8](repeating: 0, count: plaintext.count + Sodium.aeadOverhead)
    Fixture.outerKey.withUnsafeBytes { key in
        nonce.withUnsafeBytes { nonce in
            plaintext.withUnsafeBytes { plaintext in
                sealed.withUnsafeMutableBytes {
                    Sodium.seal(key: key.baseAddress!, nonce: nonce.baseAddress!, plaintext: plaintext, output: $0)
                }
            }
        }
    }
    return Array((Hex.encodeToString(Fixture.infos) + Hex.encodeToString(sealed)).utf8)
}

private func masked() -> ConnectionSalts {
    let values = Fixture.salts.maskedHeaderValues(keys: Fixture.psk)
    return (try? ConnectionSalts.parseHeaders(innerHeader: values.inner, outerHeader: values.outer)) ?? Fixture.salts
}

/// Frame `step` as the fuzzer wants it: raw, or its bytes (after a 0x01 marker) sealed as JSON under
/// the keys that step uses, so the JSON decoders behind the crypto are reached.
private func prepare(_ frame: [UInt8], step: Int) -> [UInt8] {
    guard frame.first == 0x01, frame.count > 1 else { return frame }
    let keys = step == 0 ? Fixture.psk : (step == 1 ? EnvelopeKeys(inner: Fixture.psk.inner, outer: Fixture.session.outer) : Fixture.session)
    return Envelope.seal(Array(frame.dropFirst()), keys: keys, salts: Fixture.salts)
}

let selectedTarget: FuzzTarget = {
    guard let name = getenv("PADDINGTON_FUZZ_TARGET"), let target = FuzzTarget(rawValue: String(cString: name)) else {
        return .envelope
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    fuzzOne(selectedTarget, data)
    return 0
}

#if PADDINGTON_FUZZING
/// libFuzzer's driver (LLVM 11+), which parses its flags and runs the target.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM names an executable's entry point `<module>_main`; with libFuzzer it starts the driver.
@_cdecl("PaddingtonFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, { fuzzerTestOneInput($0, $1) })
}
#else
/// Replays files: `paddington-fuzz TARGET FILE...`. Exits 0 when no input crashed.
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: paddington-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let read = fread(&buffer, 1, buffer.count, file)
                if read <= 0 { break }
                bytes += buffer[0..<read]
            }
            fclose(file)
            fuzzOne(target, bytes)
            count += 1
        }
        print("replayed \(count) inputs for \(target.rawValue)")
    }
}
#endif
