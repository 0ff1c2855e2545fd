/* Bulk SHA-256 for Merkle trees: hash n equal-size blocks into n digests, or one tree level
 * (2n digests) into the next (n digests). One C call per level instead of one Python call per
 * node. Uses the system libcrypto, whose SHA-256 uses the CPU's SHA extensions (SHA-NI). */
#include <stddef.h>
#include <stdint.h>

/* Declared here so that no OpenSSL headers are needed to build. */
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);

int poc_hash_blocks(const uint8_t *in, size_t block_size, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        SHA256(in + i * block_size, block_size, out + i * 32);
    }
    return 0;
}

int poc_hash_level(const uint8_t *in, size_t n, uint8_t *out) {
    return poc_hash_blocks(in, 64, n, out);
}
