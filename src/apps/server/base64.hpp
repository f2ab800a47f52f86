// Base64 (RFC 4648, standard alphabet, padded) for images in JSON bodies.
#pragma once

#include <optional>
#include <string>

namespace sinter_server {

std::string base64_encode(const std::string& bytes);
// Accepts a "data:...;base64," prefix (as browsers and A1111 clients send), whitespace and
// missing padding; nullopt for any other character.
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace sinter_server
