/* Bulk SHA-256 for Merkle trees: hash n equal-size blocks into n digests (tensor leaves), and
 * a tree level of 2n digests into the next level of n digests. One C call per level instead of
 * one Python call per node.
 *
 * Own SHA-256 rather than libcrypto's: OpenSSL 3's one-shot SHA256() costs ~250 ns of
 * dispatch per call, more than hashing a 32-byte leaf itself. The compression function uses
 * the x86 SHA extensions (SHA-NI) when the CPU has them, else portable C; both are checked
 * against hashlib by tests/node/test_merkle.py. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t nblocks);

/* ---- portable C ---- */
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_c(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    for (; nblocks; nblocks--, p += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                   (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d;
        st[4] += e; st[5] += f; st[6] += g; st[7] += h;
    }
}

/* ---- x86 SHA extensions ---- */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SHANI __attribute__((target("sha,sse4.1,ssse3"), always_inline)) static inline

/* W[i] + K[i] of the constant last block of 32-, 64- and 128-byte messages: that block's
 * message schedule is the same for every message, so it is computed once. */
static uint32_t PAD_WK[3][64];
static uint8_t PAD32_TAIL[32];
static int PAD_READY = 0;

static void schedule_plus_k(const uint8_t *p, uint32_t *wk) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (int i = 0; i < 64; i++) wk[i] = w[i] + K256[i];
}

static void init_pads(void) {
    /* 64-byte message: padding block = 0x80, zeros, bit length 512; 128 bytes: 1024. */
    uint8_t blk[64];
    const uint32_t lens[3] = {0, 512, 1024};
    for (int k = 1; k < 3; k++) {
        memset(blk, 0, 64);
        blk[0] = 0x80;
        blk[62] = (uint8_t)(lens[k] >> 8); blk[63] = (uint8_t)lens[k];
        schedule_plus_k(blk, PAD_WK[k]);
    }
    memset(PAD32_TAIL, 0, 32);
    PAD32_TAIL[0] = 0x80; PAD32_TAIL[30] = 0x01; /* bit length 256 */
    PAD_READY = 1;
}

SHANI void shani_init(__m128i *s0, __m128i *s1) {
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&H0[0]), 0xB1); /* CDAB */
    __m128i t1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&H0[4]), 0x1B);  /* EFGH */
    *s0 = _mm_alignr_epi8(tmp, t1, 8);     /* ABEF */
    *s1 = _mm_blend_epi16(t1, tmp, 0xF0);  /* CDGH */
}

SHANI void shani_digest(__m128i s0, __m128i s1, uint8_t *out) {
    const __m128i BSWAP32 = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(s0, 0x1B);  /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);           /* DCHG */
    __m128i abcd = _mm_blend_epi16(tmp, s1, 0xF0);
    __m128i efgh = _mm_alignr_epi8(s1, tmp, 8);
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(abcd, BSWAP32));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_shuffle_epi8(efgh, BSWAP32));
}

/* One block whose four 16-byte message quarters are given (already big-endian words). */
SHANI void shani_block(__m128i *ps0, __m128i *ps1, __m128i w0, __m128i w1, __m128i w2, __m128i w3) {
    __m128i s0 = *ps0, s1 = *ps1, w[4] = {w0, w1, w2, w3}, msg;
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        msg = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&K256[4 * g]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
        if (g >= 3 && g <= 14) {
            /* finish the schedule words of group g+1 */
            __m128i t = _mm_alignr_epi8(w[g & 3], w[(g + 3) & 3], 4);
            w[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(w[(g + 1) & 3], t), w[g & 3]);
        }
        msg = _mm_shuffle_epi32(msg, 0x0E);
        s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
        if (g >= 1 && g <= 12) w[(g + 3) & 3] = _mm_sha256msg1_epu32(w[(g + 3) & 3], w[g & 3]);
    }
    *ps0 = _mm_add_epi32(s0, *ps0);
    *ps1 = _mm_add_epi32(s1, *ps1);
}

/* A block whose schedule (plus K) is precomputed: rounds only. */
SHANI void shani_block_wk(__m128i *ps0, __m128i *ps1, const uint32_t *wk) {
    __m128i s0 = *ps0, s1 = *ps1, msg;
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        msg = _mm_loadu_si128((const __m128i *)&wk[4 * g]);
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
    }
    *ps0 = _mm_add_epi32(s0, *ps0);
    *ps1 = _mm_add_epi32(s1, *ps1);
}

#define LOADBE(p) _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p)), BSWAP)

/* Messages of 32, 64 or 128 bytes, two at a time so that the two dependency chains of
 * sha256rnds2 overlap. */
__attribute__((target("sha,sse4.1,ssse3")))
static void hash_fixed_shani(const uint8_t *in, size_t len, size_t n, uint8_t *out) {
    const __m128i BSWAP = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    const __m128i PAD_LO = LOADBE(PAD32_TAIL), PAD_HI = LOADBE(PAD32_TAIL + 16);
    const uint32_t *wk = PAD_WK[len == 64 ? 1 : 2];
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint8_t *p = in + i * len, *q = p + len;
        __m128i a0, a1, b0, b1;
        shani_init(&a0, &a1);
        shani_init(&b0, &b1);
        if (len == 32) {
            shani_block(&a0, &a1, LOADBE(p), LOADBE(p + 16), PAD_LO, PAD_HI);
            shani_block(&b0, &b1, LOADBE(q), LOADBE(q + 16), PAD_LO, PAD_HI);
        } else {
            for (size_t off = 0; off < len; off += 64) {
                shani_block(&a0, &a1, LOADBE(p + off), LOADBE(p + off + 16), LOADBE(p + off + 32), LOADBE(p + off + 48));
                shani_block(&b0, &b1, LOADBE(q + off), LOADBE(q + off + 16), LOADBE(q + off + 32), LOADBE(q + off + 48));
            }
            shani_block_wk(&a0, &a1, wk);
            shani_block_wk(&b0, &b1, wk);
        }
        shani_digest(a0, a1, out + 32 * i);
        shani_digest(b0, b1, out + 32 * (i + 1));
    }
    for (; i < n; i++) {
        const uint8_t *p = in + i * len;
        __m128i a0, a1;
        shani_init(&a0, &a1);
        if (len == 32) {
            shani_block(&a0, &a1, LOADBE(p), LOADBE(p + 16), PAD_LO, PAD_HI);
        } else {
            for (size_t off = 0; off < len; off += 64)
                shani_block(&a0, &a1, LOADBE(p + off), LOADBE(p + off + 16), LOADBE(p + off + 32), LOADBE(p + off + 48));
            shani_block_wk(&a0, &a1, wk);
        }
        shani_digest(a0, a1, out + 32 * i);
    }
}

/* Generic multi-block compression for other message sizes. */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    const __m128i BSWAP = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xB1);
    __m128i t1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1B);
    __m128i s0 = _mm_alignr_epi8(tmp, t1, 8), s1 = _mm_blend_epi16(t1, tmp, 0xF0);
    for (; nblocks; nblocks--, p += 64)
        shani_block(&s0, &s1, LOADBE(p), LOADBE(p + 16), LOADBE(p + 32), LOADBE(p + 48));
    tmp = _mm_shuffle_epi32(s0, 0x1B);
    s1 = _mm_shuffle_epi32(s1, 0xB1);
    _mm_storeu_si128((__m128i *)&st[0], _mm_blend_epi16(tmp, s1, 0xF0));
    _mm_storeu_si128((__m128i *)&st[4], _mm_alignr_epi8(s1, tmp, 8));
}

static int have_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;
}
#endif

static compress_fn pick(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (have_shani()) return compress_shani;
#endif
    return compress_c;
}

static compress_fn COMPRESS = 0;

static void sha256_one(compress_fn f, const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t st[8];
    memcpy(st, H0, sizeof st);
    size_t full = len / 64;
    if (full) f(st, msg, full);
    uint8_t tail[128] = {0};
    size_t rem = len - full * 64;
    memcpy(tail, msg + full * 64, rem);
    tail[rem] = 0x80;
    size_t tlen = rem + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    f(st, tail, tlen / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24); out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8); out[4 * i + 3] = (uint8_t)st[i];
    }
}

/* Which implementation runs: 1 = SHA-NI, 0 = portable C. force: -1 auto, 0 C, 1 SHA-NI. */
int poc_sha256_impl(int force) {
    COMPRESS = force == 0 ? compress_c : pick();
    return COMPRESS != compress_c;
}

int poc_hash_blocks(const uint8_t *in, size_t block_size, size_t n, uint8_t *out) {
    if (!COMPRESS) COMPRESS = pick();
    compress_fn f = COMPRESS;
#if defined(__x86_64__) || defined(__i386__)
    if (f == compress_shani && (block_size == 32 || block_size == 64 || block_size == 128)) {
        if (!PAD_READY) init_pads();
        hash_fixed_shani(in, block_size, n, out);
        return 0;
    }
#endif
    for (size_t i = 0; i < n; i++) sha256_one(f, in + i * block_size, block_size, out + 32 * i);
    return 0;
}

int poc_hash_level(const uint8_t *in, size_t n, uint8_t *out) {
    return poc_hash_blocks(in, 64, n, out);
}

/* A whole tree in one call: leaves (n blocks of block_size bytes) hashed into level 0, then
 * each level into the next, an odd level padded with zeros[level] (the all-padding subtree
 * hash of that level). `out` receives the levels back to back, level 0 first, unpadded:
 * n0 = n, n_{l+1} = ceil(n_l / 2), down to one node. Returns the number of levels written. */
int poc_tree(const uint8_t *in, size_t block_size, size_t n, const uint8_t *zeros, uint8_t *out) {
    poc_hash_blocks(in, block_size, n, out);
    uint8_t *cur = out;
    size_t count = n;
    int level = 0;
    uint8_t pair[64];
    while (count > 1) {
        uint8_t *next = cur + 32 * count;
        size_t full = count / 2;
        poc_hash_blocks(cur, 64, full, next);
        if (count & 1) {
            memcpy(pair, cur + 32 * (count - 1), 32);
            memcpy(pair + 32, zeros + 32 * level, 32);
            poc_hash_blocks(pair, 64, 1, next + 32 * full);
        }
        cur = next;
        count = (count + 1) / 2;
        level++;
    }
    return level + 1;
}
