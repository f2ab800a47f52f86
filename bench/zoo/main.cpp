// sinter-zoo: writes the model zoo used by the differential tests and the benchmarks.
//   sinter-zoo OUT_DIR [NAME...]      build all models, or the models and pipelines named
//   sinter-zoo --list                 list the models and pipelines

#include <cstdio>
#include <exception>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "zoo.hpp"

int main(int argc, char** argv) {
  const auto& models = zoo::all_models();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf(
        "usage: sinter-zoo OUT_DIR [NAME...] | --list\n"
        "Writes OUT_DIR/<model>/model.onnx and OUT_DIR/<model>/inputs/<input>.npy for every\n"
        "model (or those named), and OUT_DIR/<pipeline>/ (a diffusers ONNX folder) for each\n"
        "pipeline named, e.g. sinter-zoo build/zoo sd-tiny.\n");
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--list") {
    for (const auto& m : models) std::printf("%-14s %s\n", m.name.c_str(), m.description.c_str());
    for (const auto& p : zoo::all_pipelines())
      std::printf("%-14s %s (pipeline, built only by name)\n", p.name.c_str(),
                  p.description.c_str());
    return 0;
  }
  const std::string out = argv[1];
  std::set<std::string> wanted(argv + 2, argv + argc);
  for (const std::string& name : wanted) {
    bool known = false;
    for (const auto& m : models) known = known || m.name == name;
    for (const auto& p : zoo::all_pipelines()) known = known || p.name == name;
    if (!known) {
      std::fprintf(stderr, "sinter-zoo: unknown model '%s' (see --list)\n", name.c_str());
      return 2;
    }
  }
  try {
    std::vector<zoo::ZooModel> chosen = models;
    for (const auto& p : zoo::all_pipelines())
      if (wanted.count(p.name)) chosen.push_back(p);
    for (const auto& m : chosen) {
      if (!wanted.empty() && !wanted.count(m.name)) continue;
      const std::string dir = out + "/" + m.name;
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      m.build(dir);
      std::printf("%-14s -> %s\n", m.name.c_str(), dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sinter-zoo: %s\n", e.what());
    return 1;
  }
  return 0;
}
