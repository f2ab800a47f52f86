// read_png: any PNG libpng reads (palette, grey, 16-bit, alpha, interlaced) as 8-bit RGB; an
// alpha channel is dropped (composited on nothing, as A1111 converts init images to RGB).
#include <png.h>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

#include <cstdio>
#include <vector>

namespace sinter::diffusion {

namespace {

struct PngReadFile {
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadFile() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    if (file) std::fclose(file);
  }
};

}  // namespace

Image read_png(const std::string& path) {
  PngReadFile f;
  f.file = std::fopen(path.c_str(), "rb");
  if (!f.file) throw Error(ErrorCategory::io_error, "cannot read image " + path);
  unsigned char signature[8] = {};
  if (std::fread(signature, 1, 8, f.file) != 8 || png_sig_cmp(signature, 0, 8) != 0)
    throw Error(ErrorCategory::io_error, "image " + path + " is not a PNG file");
  f.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (f.png) f.info = png_create_info_struct(f.png);
  if (!f.png || !f.info) throw Error(ErrorCategory::out_of_memory, "libpng: no memory");
  if (setjmp(png_jmpbuf(f.png)))
    throw Error(ErrorCategory::io_error, "image " + path + " is corrupt or truncated");
  png_init_io(f.png, f.file);
  png_set_sig_bytes(f.png, 8);
  png_read_info(f.png, f.info);
  const png_uint_32 width = png_get_image_width(f.png, f.info);
  const png_uint_32 height = png_get_image_height(f.png, f.info);
  if (width == 0 || height == 0 || width > 16384 || height > 16384)
    throw Error(ErrorCategory::invalid_argument, "image " + path + " is " + std::to_string(width) +
                                                     "x" + std::to_string(height) +
                                                     " (at most 16384x16384)");
  // Everything to 8-bit RGB.
  png_set_expand(f.png);
  png_set_strip_16(f.png);
  png_set_strip_alpha(f.png);
  png_set_gray_to_rgb(f.png);
  png_set_interlace_handling(f.png);
  png_read_update_info(f.png, f.info);
  if (png_get_rowbytes(f.png, f.info) != width * 3)
    throw Error(ErrorCategory::io_error, "image " + path + ": cannot convert it to 8-bit RGB");
  Image image{static_cast<int>(width), static_cast<int>(height),
              std::vector<uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.rgb.data() + std::size_t{y} * width * 3;
  png_read_image(f.png, rows.data());
  png_read_end(f.png, nullptr);
  return image;
}

}  // namespace sinter::diffusion
