#include "devices/cpu/onednn_util.hpp"

namespace sinter::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::desc plain_f32(const Shape& shape) {
  dnnl::memory::dims dims(shape.begin(), shape.end());
  if (dims.empty()) dims = {1};
  dnnl::memory::dims strides(dims.size(), 1);
  for (std::size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * dims[i];
  return {dims, dnnl::memory::data_type::f32, strides};
}

void execute(const dnnl::primitive& primitive,
             const std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>>& args) {
  dnnl::stream stream(engine());
  std::unordered_map<int, dnnl::memory> memories;
  for (const auto& [arg, md_data] : args)
    memories.emplace(arg, dnnl::memory(md_data.first, engine(), const_cast<void*>(md_data.second)));
  primitive.execute(stream, memories);
  stream.wait();
}

}  // namespace sinter::cpu::onednn
