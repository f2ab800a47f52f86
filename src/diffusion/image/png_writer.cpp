// write_png: 8-bit RGB through libpng, the infotext as A1111 stores it (a "parameters" text
// chunk: tEXt when it is ASCII, else iTXt in UTF-8, both read by PIL and so by PNG Info).
#include <png.h>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

#include <cstdio>
#include <filesystem>

namespace sinter::diffusion {

namespace {

struct PngFile {
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngFile() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
    if (file) std::fclose(file);
  }
};

bool is_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

void write_png(const std::string& path, const Image& image, const std::string& parameters) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<std::size_t>(image.width) * image.height * 3)
    throw Error(ErrorCategory::invalid_argument, "write_png: image buffer does not match its size");
  const std::string temporary = path + ".partial";
  {
    PngFile f;
    f.file = std::fopen(temporary.c_str(), "wb");
    if (!f.file) throw Error(ErrorCategory::io_error, "cannot write " + path);
    f.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (f.png) f.info = png_create_info_struct(f.png);
    if (!f.png || !f.info) throw Error(ErrorCategory::out_of_memory, "libpng: no memory");
    if (setjmp(png_jmpbuf(f.png))) {
      std::filesystem::remove(temporary);
      throw Error(ErrorCategory::io_error, "cannot write " + path + " (libpng error)");
    }
    png_init_io(f.png, f.file);
    png_set_IHDR(f.png, f.info, static_cast<png_uint_32>(image.width),
                 static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    std::string key = "parameters", text = parameters;
    png_text chunk{};
    chunk.compression =
        is_ascii(parameters) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    chunk.key = key.data();
    chunk.text = text.data();
    chunk.text_length = chunk.compression == PNG_TEXT_COMPRESSION_NONE ? text.size() : 0;
    chunk.itxt_length = chunk.compression == PNG_TEXT_COMPRESSION_NONE ? 0 : text.size();
    if (!parameters.empty()) png_set_text(f.png, f.info, &chunk, 1);
    png_write_info(f.png, f.info);
    for (int y = 0; y < image.height; ++y)
      png_write_row(f.png, image.rgb.data() + static_cast<std::size_t>(y) * image.width * 3);
    png_write_end(f.png, f.info);
    if (std::fflush(f.file) != 0) {
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
