import PaddingtonCrypto

extension PaddingtonError {
    /// What an error thrown while handling a peer's frame means for the link: the error itself when it
    /// is a ``PaddingtonError``, otherwise a protocol violation that carries its description.
    static func peerFailure(_ error: any Error) -> PaddingtonError {
        error as? PaddingtonError ?? PaddingtonError(.protocolViolation, "\(error)")
    }

    /// A handshake frame that did not open, named by its `step`: a tag that does not verify means the
    /// peer does not hold the keys (`authenticationFailed`); other codes are kept.
    static func handshakeFrame(_ error: PaddingtonError, step: String) -> PaddingtonError {
        PaddingtonError(error.code == .decryptionFailed ? .authenticationFailed : error.code, "\(step): \(error.message)")
    }
}
