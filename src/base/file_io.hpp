// Whole-file reads and atomic writes with clear io_error messages.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace sinter {

std::string read_file(const std::string& path);
// Atomic: writes PATH.tmp.<pid> and renames it over PATH, so readers never see a partial file.
void write_file_atomically(const std::string& path, const std::string& bytes);
// The same, streaming: `write` fills the temporary file.
void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write);

}  // namespace sinter
