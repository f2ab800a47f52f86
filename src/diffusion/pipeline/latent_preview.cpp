#include <algorithm>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

namespace sinter::diffusion {

namespace {

// RGB per latent channel: the least-squares linear fit of decoded SD 1.x colours on latents
// that A1111 ships as its "Approx cheap" live preview (modules/sd_vae_approx.py). Its output
// is in [-1, 1] like the VAE's.
constexpr float kLatentToRgb[4][3] = {{0.298F, 0.207F, 0.208F},
                                      {0.187F, 0.286F, 0.173F},
                                      {-0.158F, 0.189F, 0.264F},
                                      {-0.184F, -0.271F, -0.473F}};

}  // namespace

Image latent_preview(const float* latents, int64_t height, int64_t width) {
  if (!latents || height <= 0 || width <= 0)
    throw Error(ErrorCategory::invalid_argument, "latent_preview: no latents");
  const int64_t plane = height * width;
  Image image{static_cast<int>(width), static_cast<int>(height),
              std::vector<uint8_t>(static_cast<std::size_t>(plane) * 3)};
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) {
      float v = 0;
      for (int l = 0; l < 4; ++l) v += latents[l * plane + i] * kLatentToRgb[l][c];
      const float unit = std::clamp((v + 1.0F) / 2.0F, 0.0F, 1.0F);
      image.rgb[static_cast<std::size_t>(i) * 3 + c] =
          static_cast<uint8_t>(unit * 255);  // truncated, as A1111 does
    }
  return image;
}

}  // namespace sinter::diffusion
