// Per-file checksums of a folder: manifest.json = {"files": {"model/model.safetensors": {"bytes": N,
// "crc32c": "1a2b3c4d"}, ...}} with paths relative to the folder. Training checkpoints write one before they are
// marked complete; resuming checks it, so a file that was truncated or had bytes changed is found and named.
//
//   write_file_atomic(tmp_dir + "/manifest.json", file_manifest_json(tmp_dir));  // after every other file
//   check_file_manifest(dir);                     // throws dsrl::Error naming the first bad file
#pragma once

#include <cstdint>
#include <string>

namespace dsrl {

inline constexpr const char* kManifestName = "manifest.json";

// The CRC-32C of a whole file, read in 4 MiB pieces; an unreadable file is an Error naming it.
uint32_t file_crc32c(const std::string& path);

// The manifest of every regular file under `folder` (recursively, in path order, manifest.json itself aside), as
// JSON text for the caller to write to folder/manifest.json.
std::string file_manifest_json(const std::string& folder);

// Whether folder/manifest.json exists.
bool has_file_manifest(const std::string& folder);

// Checks every file the manifest lists: present, the listed size, the listed crc32c. The Error names the folder,
// the file and what differs (size or checksum, expected vs got). A malformed manifest is an Error too.
void check_file_manifest(const std::string& folder);

}  // namespace dsrl
