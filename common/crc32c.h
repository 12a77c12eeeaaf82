// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of TFRecord framing (TensorBoard event
// files), weight-update chunks and checkpoint manifests. Uses the CPU's crc32 instruction where it has one (x86-64
// SSE4.2, several GB/s), else the byte table of crc32c_reference (about 1 GB/s).
//   crc32c("123456789", 9) == 0xE3069283
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsrl {

// The CRC-32C of n bytes at data. `init` continues a previous result, so a buffer can be checksummed in pieces:
//   crc32c(ab, na + nb) == crc32c(b, nb, crc32c(a, na)).
uint32_t crc32c(const void* data, size_t n, uint32_t init = 0);

// The same checksum, one byte at a time through a 256-entry table: the plain reference crc32c is tested against.
uint32_t crc32c_reference(const void* data, size_t n, uint32_t init = 0);

}  // namespace dsrl
