// encode_png / write_png: 8-bit RGB through libpng, the infotext as A1111 stores it (a
// "parameters" text chunk: tEXt when it is ASCII, else iTXt in UTF-8, both read by PIL and so by
// PNG Info). write_png writes a temporary file and renames it, so a failure leaves no half file.
#include <png.h>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace sinter::diffusion {

namespace {

struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriter() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

void append_bytes(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))
      ->append(reinterpret_cast<const char*>(data), length);
}

bool is_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

std::string encode_png(const Image& image, const std::string& parameters) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<std::size_t>(image.width) * image.height * 3)
    throw Error(ErrorCategory::invalid_argument,
                "encode_png: image buffer does not match its size");
  std::string bytes;
  PngWriter w;
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (w.png) w.info = png_create_info_struct(w.png);
  if (!w.png || !w.info) throw Error(ErrorCategory::out_of_memory, "libpng: no memory");
  if (setjmp(png_jmpbuf(w.png))) throw Error(ErrorCategory::io_error, "libpng: cannot encode");
  png_set_write_fn(w.png, &bytes, append_bytes, nullptr);
  png_set_IHDR(w.png, w.info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::string key = "parameters", text = parameters;
  png_text chunk{};
  chunk.compression = is_ascii(parameters) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
  chunk.key = key.data();
  chunk.text = text.data();
  chunk.text_length = chunk.compression == PNG_TEXT_COMPRESSION_NONE ? text.size() : 0;
  chunk.itxt_length = chunk.compression == PNG_TEXT_COMPRESSION_NONE ? 0 : text.size();
  if (!parameters.empty()) png_set_text(w.png, w.info, &chunk, 1);
  png_write_info(w.png, w.info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(w.png, image.rgb.data() + static_cast<std::size_t>(y) * image.width * 3);
  png_write_end(w.png, w.info);
  return bytes;
}

void write_png(const std::string& path, const Image& image, const std::string& parameters) {
  const std::string bytes = encode_png(image, parameters);
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary);
    if (!out) throw Error(ErrorCategory::io_error, "cannot write " + path);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(temporary);
      throw Error(ErrorCategory::io_error, "cannot write " + path + " (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary);
    throw Error(ErrorCategory::io_error, "cannot write " + path + ": " + ec.message());
  }
}

}  // namespace sinter::diffusion
