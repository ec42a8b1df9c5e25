import NIOConcurrencyHelpers

/// Limits on inbound connections: how many are in the upgrade or the handshake at once, and how many
/// come from one address.
final class AdmissionControl: Sendable {
    private struct State {
        var pendingHandshakes = 0
        var perAddress: [IPAddress: Int] = [:]
        var closed = false
    }

    private let state = NIOLockedValueBox(State())
    let maxPending: Int
    let maxPerAddress: Int

    init(maxPending: Int, maxPerAddress: Int) {
        self.maxPending = maxPending
        self.maxPerAddress = maxPerAddress
    }

    /// Counts a new inbound connection, or says why it is refused.
    func admit(_ address: IPAddress, perAddressLimit: Bool = true) -> Result<Admission, PaddingtonError> {
        let refusal = state.withLockedValue { state -> PaddingtonError? in
            if state.closed { return PaddingtonError(.shutdown, "the mesh is shutting down") }
            guard state.pendingHandshakes < maxPending else {
                return PaddingtonError(.tooManyConnections, "\(state.pendingHandshakes) connections are already in handshake (limit \(maxPending))")
            }
            let current = state.perAddress[address, default: 0]
            guard current < maxPerAddress || !perAddressLimit else {
                return PaddingtonError(.tooManyConnections, "\(address) already has \(current) connections (limit \(maxPerAddress))")
            }
            state.pendingHandshakes += 1
            state.perAddress[address] = current + 1
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(Admission(control: self, address: address))
    }

    /// No more connections are admitted.
    func close() {
        state.withLockedValue { $0.closed = true }
    }

    fileprivate func handshakeFinished() {
        state.withLockedValue { $0.pendingHandshakes -= 1 }
    }

    fileprivate func connectionClosed(_ address: IPAddress) {
        state.withLockedValue { state in
            let count = state.perAddress[address, default: 0] - 1
            state.perAddress[address] = count > 0 ? count : nil
        }
    }
}

/// One inbound connection counted by ``AdmissionControl``; gives its counts back exactly once.
final class Admission: Sendable {
    private let control: AdmissionControl
    private let address: IPAddress
    private let pending = NIOLockedValueBox(true)

    fileprivate init(control: AdmissionControl, address: IPAddress) {
        self.control = control
        self.address = address
    }

    /// The handshake ended (either way): it no longer counts as pending.
    func handshakeDone() {
        let wasPending = pending.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        if wasPending { control.handshakeFinished() }
    }

    /// The TCP connection closed.
    func closed() {
        handshakeDone()
        control.connectionClosed(address)
    }
}
