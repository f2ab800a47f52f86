// Resizing an init image to the size being generated (A1111's "Just resize").
#pragma once

#include <sinter/diffusion.hpp>

namespace sinter::diffusion {

// Bilinear with half-pixel centres; when shrinking, each output pixel averages the input
// pixels it covers (a box prefilter), so a large photo does not alias.
Image resize_image(const Image& image, int width, int height);

}  // namespace sinter::diffusion
