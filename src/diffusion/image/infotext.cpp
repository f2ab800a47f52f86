#include "diffusion/image/infotext.hpp"

#include <openssl/evp.h>
#include <sinter/error.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

namespace sinter::diffusion {

namespace {

// A1111's schedule names for its "Schedule type" field.
std::string schedule_label(const std::string& schedule) {
  if (schedule == "karras") return "Karras";
  if (schedule == "exponential") return "Exponential";
  if (schedule == "sgm_uniform") return "SGM Uniform";
  return "";  // the sampler's own ("Automatic"): A1111 writes no field
}

// 7, 7.5, 6.25: as Python prints a float that holds an integer value or not.
std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

}  // namespace

std::string format_infotext(const Infotext& i) {
  std::string s = i.prompt;
  if (!i.negative_prompt.empty()) s += "\nNegative prompt: " + i.negative_prompt;
  s += "\nSteps: " + std::to_string(i.steps) + ", Sampler: " + i.sampler;
  if (const std::string label = schedule_label(i.schedule); !label.empty())
    s += ", Schedule type: " + label;
  s += ", CFG scale: " + number(i.cfg_scale) + ", Seed: " + std::to_string(i.seed) +
       ", Size: " + std::to_string(i.width) + "x" + std::to_string(i.height);
  if (!i.model_hash.empty()) s += ", Model hash: " + i.model_hash;
  if (!i.model.empty()) s += ", Model: " + i.model;
  if (i.denoising_strength >= 0) s += ", Denoising strength: " + number(i.denoising_strength);
  return s;
}

std::string short_hash(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io_error, "cannot read " + file.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error(ErrorCategory::internal, "SHA-256 unavailable");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  char two[3];
  for (unsigned int k = 0; k < 5 && k < length; ++k) {
    std::snprintf(two, sizeof two, "%02x", digest[k]);
    hex += two;
  }
  return hex;
}

}  // namespace sinter::diffusion
