extension SecretKey {
    /// A key whose 32 bytes `body` writes straight into the key's own zeroed storage, so that a derived
    /// secret never passes through a temporary buffer. Used for Noise's chaining key, cipher keys and
    /// ephemeral private keys.
    init(filling body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let storage = Storage()
        try body(storage.bytes)
        self.storage = storage
    }
}
