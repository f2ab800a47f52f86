// A minimal sinter program: load a model, run it on a .npy input, print the top output values.
//
//   build/bin/sinter_example model.onnx input.npy
#include <algorithm>
#include <iostream>
#include <numeric>
#include <vector>

#include "sinter/sinter.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.onnx INPUT.npy\n";
    return 2;
  }
  try {
    sinter::Core core;
    sinter::Model model = core.read_model(argv[1]);
    sinter::CompiledModel compiled = core.compile_model(model, "CPU");
    sinter::InferRequest request = compiled.create_infer_request();
    request.set_input(model.inputs().at(0).name, sinter::load_tensor(argv[2]));
    request.infer();

    const sinter::Tensor& out = request.get_output(model.outputs().at(0).name).tensor();
    if (out.element_type() != sinter::ElementType::f32) {
      std::cout << "output is " << sinter::to_string(out.element_type()) << "\n";
      return 0;
    }
    const float* v = out.data_as<float>();
    std::vector<int64_t> idx(static_cast<std::size_t>(out.element_count()));
    std::iota(idx.begin(), idx.end(), 0);
    const std::size_t k = std::min<std::size_t>(5, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return v[a] > v[b]; });
    for (std::size_t i = 0; i < k; ++i) std::cout << "#" << idx[i] << "  " << v[idx[i]] << "\n";
  } catch (const sinter::Error& e) {
    std::cerr << "error [" << sinter::to_string(e.category()) << "]: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
