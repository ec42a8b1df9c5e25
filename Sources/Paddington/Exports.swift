@_exported import PaddingtonCrypto
