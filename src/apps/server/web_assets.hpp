// The web UI's files, built into the binary (cmake/embed_web.cmake writes web_assets()).
#pragma once

#include <string>
#include <vector>

namespace sinter_server {

struct WebAsset {
  const char* name;     // "index.html"
  const char* content;  // the file's text
};

const std::vector<WebAsset>& web_assets();

}  // namespace sinter_server
