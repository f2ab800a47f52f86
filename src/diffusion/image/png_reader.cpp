// decode_png / read_png: any PNG libpng reads (palette, grey, 16-bit, alpha, interlaced) as
// 8-bit RGB; an alpha channel is dropped (composited on nothing, as A1111 converts init images
// to RGB). png_parameters: the "parameters" text chunk A1111 writes (tEXt, zTXt or iTXt).
#include <png.h>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace sinter::diffusion {

namespace {

struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const std::string* bytes = nullptr;
  std::size_t offset = 8;  // after the signature
  ~PngReader() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void read_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (r->offset + length > r->bytes->size()) png_error(png, "truncated");
  std::memcpy(out, r->bytes->data() + r->offset, length);
  r->offset += length;
}

// Starts reading `bytes` (signature and header); `what` names the image in errors.
void open(PngReader& r, const std::string& bytes, const std::string& what) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0)
    throw Error(ErrorCategory::io_error, "image " + what + " is not a PNG file");
  r.bytes = &bytes;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.png || !r.info) throw Error(ErrorCategory::out_of_memory, "libpng: no memory");
  png_set_read_fn(r.png, &r, read_bytes);
  png_set_sig_bytes(r.png, 8);
}

}  // namespace

Image decode_png(const std::string& bytes, const std::string& what) {
  PngReader r;
  open(r, bytes, what);
  if (setjmp(png_jmpbuf(r.png)))
    throw Error(ErrorCategory::io_error, "image " + what + " is corrupt or truncated");
  png_read_info(r.png, r.info);
  const png_uint_32 width = png_get_image_width(r.png, r.info);
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  if (width == 0 || height == 0 || width > 16384 || height > 16384)
    throw Error(ErrorCategory::invalid_argument, "image " + what + " is " + std::to_string(width) +
                                                     "x" + std::to_string(height) +
                                                     " (at most 16384x16384)");
  // Everything to 8-bit RGB.
  png_set_expand(r.png);
  png_set_strip_16(r.png);
  png_set_strip_alpha(r.png);
  png_set_gray_to_rgb(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  if (png_get_rowbytes(r.png, r.info) != width * 3)
    throw Error(ErrorCategory::io_error, "image " + what + ": cannot convert it to 8-bit RGB");
  Image image{static_cast<int>(width), static_cast<int>(height),
              std::vector<uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.rgb.data() + std::size_t{y} * width * 3;
  png_read_image(r.png, rows.data());
  png_read_end(r.png, nullptr);
  return image;
}

std::string png_parameters(const std::string& bytes, const std::string& what) {
  PngReader r;
  open(r, bytes, what);
  if (setjmp(png_jmpbuf(r.png)))
    throw Error(ErrorCategory::io_error, "image " + what + " is corrupt or truncated");
  png_read_info(r.png, r.info);
  // Text chunks may also follow the image data: skip the rows and read the end.
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  std::vector<png_byte> row(png_get_rowbytes(r.png, r.info));
  const int passes = png_get_interlace_type(r.png, r.info) == PNG_INTERLACE_ADAM7 ? 7 : 1;
  for (int pass = 0; pass < passes; ++pass)
    for (png_uint_32 y = 0; y < height; ++y) png_read_row(r.png, row.data(), nullptr);
  png_read_end(r.png, r.info);
  png_textp text = nullptr;
  const int count = png_get_text(r.png, r.info, &text, nullptr);
  for (int i = 0; i < count; ++i)
    if (std::strcmp(text[i].key, "parameters") == 0)
      return std::string(text[i].text,
                         text[i].compression > 0 ? text[i].itxt_length : text[i].text_length);
  return "";
}

Image read_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io_error, "cannot read image " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return decode_png(bytes.str(), path);
}

}  // namespace sinter::diffusion
