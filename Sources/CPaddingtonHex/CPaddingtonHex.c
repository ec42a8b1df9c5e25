// Vector hex codecs (see include/CPaddingtonHex.h for the contract).
//
// Decoding. Per character c, with d = c - '0' and l = (c | 0x20) - 'a' as bytes (wrapping):
//   c is a digit  iff d <= 9 (checked on c itself: folding would make 0x10-0x19 look like digits);
//   c is a letter iff l <= 5 (the fold maps 'A'-'F' onto 'a'-'f' and nothing else onto them);
//   its value is min(d, l + 10): for a digit l + 10 wraps to 0xd9 or more, for a letter d is 17 or more.
// Validity uses saturating adds: d + 0x76 has bit 7 set iff d >= 10, l + 0x7a iff l >= 6, so a
// character is bad iff both sums have bit 7 set. Pairs of values become bytes with one
// multiply-add (first * 16 + second), then a pack.
//
// Encoding. Each byte's two nibbles index a 16-byte table of digits with one byte shuffle each, and an
// interleave puts the high nibble's digit first.
#include "CPaddingtonHex.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

unsigned paddington_hex_cpu_features(void) {
    __builtin_cpu_init();
    unsigned features = 0;
    if (__builtin_cpu_supports("ssse3")) {
        features |= PADDINGTON_HEX_SSSE3;
    }
    if (__builtin_cpu_supports("avx2")) {
        features |= PADDINGTON_HEX_AVX2;
    }
    return features;
}

__attribute__((target("ssse3")))
static inline __m128i values_128(__m128i chars, __m128i *bad) {
    const __m128i d = _mm_sub_epi8(chars, _mm_set1_epi8('0'));
    const __m128i l = _mm_sub_epi8(_mm_or_si128(chars, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    *bad = _mm_or_si128(*bad, _mm_and_si128(_mm_adds_epu8(d, _mm_set1_epi8(0x76)), _mm_adds_epu8(l, _mm_set1_epi8(0x7a))));
    const __m128i nibbles = _mm_min_epu8(d, _mm_add_epi8(l, _mm_set1_epi8(10)));
    // Sixteen-bit lanes of first * 16 + second (the weights are the bytes 0x10, 0x01).
    return _mm_maddubs_epi16(nibbles, _mm_set1_epi16(0x0110));
}

__attribute__((target("ssse3")))
size_t paddington_hex_decode_ssse3(const uint8_t *input, size_t count, uint8_t *output) {
    size_t done = 0;
    while (count - done >= 32) {
        __m128i bad = _mm_setzero_si128();
        const __m128i first = values_128(_mm_loadu_si128((const __m128i *)(input + done)), &bad);
        const __m128i second = values_128(_mm_loadu_si128((const __m128i *)(input + done + 16)), &bad);
        if (_mm_movemask_epi8(bad) != 0) {
            break;
        }
        _mm_storeu_si128((__m128i *)(output + done / 2), _mm_packus_epi16(first, second));
        done += 32;
    }
    return done;
}

__attribute__((target("avx2")))
static inline __m256i values_256(__m256i chars, __m256i *bad) {
    const __m256i d = _mm256_sub_epi8(chars, _mm256_set1_epi8('0'));
    const __m256i l = _mm256_sub_epi8(_mm256_or_si256(chars, _mm256_set1_epi8(0x20)), _mm256_set1_epi8('a'));
    *bad = _mm256_or_si256(
        *bad, _mm256_and_si256(_mm256_adds_epu8(d, _mm256_set1_epi8(0x76)), _mm256_adds_epu8(l, _mm256_set1_epi8(0x7a))));
    const __m256i nibbles = _mm256_min_epu8(d, _mm256_add_epi8(l, _mm256_set1_epi8(10)));
    return _mm256_maddubs_epi16(nibbles, _mm256_set1_epi16(0x0110));
}

__attribute__((target("avx2")))
size_t paddington_hex_decode_avx2(const uint8_t *input, size_t count, uint8_t *output) {
    size_t done = 0;
    while (count - done >= 64) {
        __m256i bad = _mm256_setzero_si256();
        const __m256i first = values_256(_mm256_loadu_si256((const __m256i *)(input + done)), &bad);
        const __m256i second = values_256(_mm256_loadu_si256((const __m256i *)(input + done + 32)), &bad);
        if (_mm256_movemask_epi8(bad) != 0) {
            break;
        }
        // The pack works within 128-bit lanes (first.lo, second.lo, first.hi, second.hi); restore the order.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(first, second), 0xD8);
        _mm256_storeu_si256((__m256i *)(output + done / 2), packed);
        done += 64;
    }
    return done;
}

__attribute__((target("ssse3")))
size_t paddington_hex_encode_ssse3(const uint8_t *input, size_t count, uint8_t *output) {
    const __m128i digits = _mm_setr_epi8('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f');
    const __m128i low = _mm_set1_epi8(0x0f);
    size_t done = 0;
    while (count - done >= 16) {
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(input + done));
        const __m128i high = _mm_shuffle_epi8(digits, _mm_and_si128(_mm_srli_epi16(bytes, 4), low));
        const __m128i rest = _mm_shuffle_epi8(digits, _mm_and_si128(bytes, low));
        _mm_storeu_si128((__m128i *)(output + 2 * done), _mm_unpacklo_epi8(high, rest));
        _mm_storeu_si128((__m128i *)(output + 2 * done + 16), _mm_unpackhi_epi8(high, rest));
        done += 16;
    }
    return done;
}

__attribute__((target("avx2")))
size_t paddington_hex_encode_avx2(const uint8_t *input, size_t count, uint8_t *output) {
    const __m256i digits = _mm256_setr_epi8(
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f');
    const __m256i low = _mm256_set1_epi8(0x0f);
    size_t done = 0;
    while (count - done >= 32) {
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(input + done));
        const __m256i high = _mm256_shuffle_epi8(digits, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low));
        const __m256i rest = _mm256_shuffle_epi8(digits, _mm256_and_si256(bytes, low));
        // The interleaves work within 128-bit lanes: `first` holds bytes 0-7 and 16-23, `second` 8-15 and 24-31.
        const __m256i first = _mm256_unpacklo_epi8(high, rest);
        const __m256i second = _mm256_unpackhi_epi8(high, rest);
        _mm256_storeu_si256((__m256i *)(output + 2 * done), _mm256_permute2x128_si256(first, second, 0x20));
        _mm256_storeu_si256((__m256i *)(output + 2 * done + 32), _mm256_permute2x128_si256(first, second, 0x31));
        done += 32;
    }
    return done;
}

#else

unsigned paddington_hex_cpu_features(void) { return 0; }

size_t paddington_hex_decode_ssse3(const uint8_t *input, size_t count, uint8_t *output) {
    (void)input;
    (void)count;
    (void)output;
    return 0;
}

size_t paddington_hex_decode_avx2(const uint8_t *input, size_t count, uint8_t *output) {
    (void)input;
    (void)count;
    (void)output;
    return 0;
}

size_t paddington_hex_encode_ssse3(const uint8_t *input, size_t count, uint8_t *output) {
    (void)input;
    (void)count;
    (void)output;
    return 0;
}

size_t paddington_hex_encode_avx2(const uint8_t *input, size_t count, uint8_t *output) {
    (void)input;
    (void)count;
    (void)output;
    return 0;
}

#endif
