#ifndef PADDINGTON_CPADDINGTONHEX_H
#define PADDINGTON_CPADDINGTONHEX_H

#include <stddef.h>
#include <stdint.h>

/* Vector hex codecs for swift-paddington, chosen at run time (PaddingtonCrypto's HexCodec).
 *
 * Decoding. Each decoder handles whole blocks from the front of the input and stops before the first block
 * that holds a byte other than an ASCII hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or when less than a
 * block is left. It returns how many characters it decoded (a multiple of its block) and has written
 * half that many bytes to `output`. The caller decodes the rest with a scalar decoder, which also finds
 * the exact offset of a bad character. Nothing is written for the block that stopped the decoder.
 * `output` must not overlap `input`.
 *
 * Encoding. Each encoder writes two lowercase hex characters per input byte for whole blocks from the
 * front of the input and returns how many bytes it encoded; the caller encodes the rest. In-place
 * expansion is allowed: `input` may be the upper half of `output` (output + count), because a block's
 * input is loaded before its output is stored, and that output ends where the next block's input starts.
 *
 * Call a function only when paddington_hex_cpu_features() reports its instruction set; the functions
 * exist on every architecture and do nothing off x86. */

/* Bit set in paddington_hex_cpu_features() when the CPU and OS can run the SSSE3 decoder. */
#define PADDINGTON_HEX_SSSE3 1u
/* Bit set in paddington_hex_cpu_features() when the CPU and OS can run the AVX2 decoder. */
#define PADDINGTON_HEX_AVX2 2u

/* The decoders this machine can run (PADDINGTON_HEX_* bits); 0 off x86. */
unsigned paddington_hex_cpu_features(void);

/* SSSE3: blocks of 32 characters. */
size_t paddington_hex_decode_ssse3(const uint8_t *input, size_t count, uint8_t *output);

/* AVX2: blocks of 64 characters. */
size_t paddington_hex_decode_avx2(const uint8_t *input, size_t count, uint8_t *output);

/* SSSE3: blocks of 16 bytes. */
size_t paddington_hex_encode_ssse3(const uint8_t *input, size_t count, uint8_t *output);

/* AVX2: blocks of 32 bytes. */
size_t paddington_hex_encode_avx2(const uint8_t *input, size_t count, uint8_t *output);

#endif
