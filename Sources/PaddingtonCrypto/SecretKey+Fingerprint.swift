extension SecretKey {
    /// A one-way digest of the key (SHA-256 over a label and the key), to tell equal keys apart from
    /// different ones without keeping copies of the key: say, whether two clients were given the same
    /// keys. It reveals nothing about the key beyond equality.
    package var fingerprint: [UInt8] {
        var label = "swift-paddington key fingerprint"
        return label.withUTF8 { label in
            withUnsafeBytes { key in
                [UInt8](unsafeUninitializedCapacity: 32) { output, initialised in
                    Sodium.sha256(UnsafeRawBufferPointer(label), key, output: output.baseAddress!)
                    initialised = 32
                }
            }
        }
    }
}
