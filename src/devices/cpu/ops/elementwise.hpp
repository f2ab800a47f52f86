// Building blocks for elementwise kernels: unary maps and NumPy-broadcasting binary maps.
#pragma once

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

// out[i] = f(in[i]) with the same element type; f receives compute_t<T>.
template <typename T, typename F>
Tensor map_unary(const Tensor& in, F&& f) {
  Tensor out = Tensor::uninitialized(in.element_type(), in.shape());  // written whole
  const T* src = in.data_as<T>();
  T* dst = out.data_as<T>();
  const int64_t n = in.element_count();
  parallel_for(n, n > 65536,
               [&](int64_t i) { dst[i] = static_cast<T>(f(static_cast<compute_t<T>>(src[i]))); });
  return out;
}

// Output 0 = f(input 0) for any float type, f computing in double (activations with
// parameters, whose exactness matters more than their speed).
template <typename F>
void map_float_as_double(OpContext& ctx, F f) {
  const Tensor& x = ctx.input(0);
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    ctx.set_output(0, map_unary<T>(x, [&](auto v) {
                     return static_cast<decltype(v)>(f(static_cast<double>(v)));
                   }));
  });
}

// out = f(a, b) broadcast; TO is the output element type.
template <typename TA, typename TB, typename TO, typename F>
Tensor map_binary(const OpContext& ctx, const Tensor& a, const Tensor& b, F&& f) {
  const Shape shape = broadcast_shapes(ctx, a.shape(), b.shape());
  Tensor out = Tensor::uninitialized(element_type_of<TO>(), shape);  // written whole
  const TA* pa = a.data_as<TA>();
  const TB* pb = b.data_as<TB>();
  TO* po = out.data_as<TO>();
  const int64_t n = out.element_count();
  auto apply = [&](int64_t i, int64_t ia, int64_t ib) {
    po[i] =
        static_cast<TO>(f(static_cast<compute_t<TA>>(pa[ia]), static_cast<compute_t<TB>>(pb[ib])));
  };
  if (a.shape() == b.shape()) {
    parallel_for(n, n > 65536, [&](int64_t i) { apply(i, i, i); });
  } else if (b.element_count() == 1) {
    parallel_for(n, n > 65536, [&](int64_t i) { apply(i, i, 0); });
  } else if (a.element_count() == 1) {
    parallel_for(n, n > 65536, [&](int64_t i) { apply(i, 0, i); });
  } else {
    for_each_index2(shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
                    apply);
  }
  return out;
}

}  // namespace sinter::cpu
