// Signal processing (opset 17): DFT, STFT, the Hann/Hamming/Blackman windows and
// MelWeightMatrix. Transforms are direct O(N^2) sums in double precision; an FFT is a later
// optimisation.
#include <cmath>
#include <numbers>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

ElementType output_datatype(const OpContext& ctx) {
  const auto t = static_cast<ElementType>(ctx.attr_i("output_datatype", 1));
  ctx.check(is_floating_type(t) || t == ElementType::i8 || t == ElementType::i16 ||
                t == ElementType::i32 || t == ElementType::i64 || t == ElementType::u8 ||
                t == ElementType::u16 || t == ElementType::u32 || t == ElementType::u64,
            "output_datatype {} is not a numeric type", static_cast<int>(t));
  return t;
}

// Generalised cosine window: a0 - a1 cos(2 pi n / D) + a2 cos(4 pi n / D), with D = size when
// periodic, size - 1 when symmetric.
void cosine_window(OpContext& ctx, double a0, double a1, double a2) {
  const auto size = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(0)));
  ctx.check(size >= 0, "window size {} is negative", size);
  const bool periodic = ctx.attr_i("periodic", 1) != 0;
  const double denom = periodic ? double(size) : double(size - 1);
  std::vector<double> w(size);
  for (int64_t n = 0; n < size; ++n) {
    const double phase = denom > 0 ? kTwoPi * double(n) / denom : 0.0;
    w[n] = a0 - a1 * std::cos(phase) + a2 * std::cos(2 * phase);
  }
  ctx.set_output(0, tensor_from_doubles(ctx, w, {size}, output_datatype(ctx)));
}

void op_hann_window(OpContext& ctx) {
  cosine_window(ctx, 0.5, 0.5, 0.0);
}
void op_hamming_window(OpContext& ctx) {
  cosine_window(ctx, 25.0 / 46.0, 21.0 / 46.0, 0.0);
}
void op_blackman_window(OpContext& ctx) {
  cosine_window(ctx, 0.42, 0.5, 0.08);
}

// out[k] = sum_n in[n] * exp(-+2 pi i k n / length), n over the first min(count, length) inputs
// (the rest is zero padding). Complex values are (re, im) pairs with the given strides.
void dft_1d(const double* in, int64_t count, int64_t in_stride, bool complex_in, double* out,
            int64_t out_count, int64_t out_stride, int64_t length, bool inverse) {
  const double sign = inverse ? 1.0 : -1.0;
  const int64_t used = std::min(count, length);
  for (int64_t k = 0; k < out_count; ++k) {
    double re = 0, im = 0;
    for (int64_t n = 0; n < used; ++n) {
      const double angle = sign * kTwoPi * double((k * n) % length) / double(length);
      const double c = std::cos(angle), s = std::sin(angle);
      const double xr = in[n * in_stride], xi = complex_in ? in[n * in_stride + 1] : 0.0;
      re += xr * c - xi * s;
      im += xr * s + xi * c;
    }
    if (inverse) {
      re /= double(length);
      im /= double(length);
    }
    out[k * out_stride] = re;
    out[k * out_stride + 1] = im;
  }
}

void op_dft(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 3 && (x.shape().back() == 1 || x.shape().back() == 2),
            "input must be [batch, ..., signal, 1 or 2], got {}", to_string(x.shape()));
  const int64_t signal_rank = x.rank() - 1;  // without the trailing real/complex axis
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 1), signal_rank);
  ctx.check(axis >= 1, "axis must not be the batch axis");
  const bool inverse = ctx.attr_i("inverse", 0) != 0;
  const bool onesided = ctx.attr_i("onesided", 0) != 0;
  const bool complex_in = x.shape().back() == 2;
  const int64_t count = x.shape()[axis];
  int64_t length = count;
  if (const Tensor* len = ctx.optional_input(1); len && len->element_count()) {
    length = static_cast<int64_t>(scalar_as_double(ctx, *len));
  }
  ctx.check(length > 0, "dft_length must be positive, got {}", length);
  const int64_t out_count = onesided ? length / 2 + 1 : length;
  Shape out_shape = x.shape();
  out_shape[axis] = out_count;
  out_shape.back() = 2;

  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  const auto in_strides = strides_of(x.shape());
  const auto out_strides = strides_of(out_shape);
  std::vector<double> out(element_count(out_shape), 0.0);
  // Every index of the other signal axes: outer (before axis) x inner (after axis).
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < signal_rank; ++d) inner *= x.shape()[d];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const double* src = xd.data_as<double>() + o * in_strides[axis - 1] + i * x.shape().back();
      double* dst = out.data() + o * out_strides[axis - 1] + i * 2;
      dft_1d(src, count, in_strides[axis], complex_in, dst, out_count, out_strides[axis], length,
             inverse);
    }
  }
  ctx.set_output(0, tensor_from_doubles(ctx, out, out_shape, x.element_type()));
}

void op_stft(OpContext& ctx) {
  const Tensor& signal = ctx.input(0);
  ctx.check(signal.rank() == 3 && (signal.shape()[2] == 1 || signal.shape()[2] == 2),
            "signal must be [batch, length, 1 or 2], got {}", to_string(signal.shape()));
  const auto step = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(1)));
  const Tensor* window = ctx.optional_input(2);
  const Tensor* frame_len_t = ctx.optional_input(3);
  int64_t frame_length = 0;
  if (frame_len_t && frame_len_t->element_count()) {
    frame_length = static_cast<int64_t>(scalar_as_double(ctx, *frame_len_t));
  } else {
    ctx.check(window != nullptr, "needs a window or a frame_length");
    frame_length = window->element_count();
  }
  ctx.check(step > 0 && frame_length > 0, "frame_step ({}) and frame_length ({}) must be positive",
            step, frame_length);
  std::vector<double> w(frame_length, 1.0);
  if (window && window->element_count()) {
    ctx.check(window->element_count() == frame_length, "window has {} values, frame_length is {}",
              window->element_count(), frame_length);
    const Tensor wd = convert_tensor(ctx, *window, ElementType::f64);
    std::copy(wd.data_as<double>(), wd.data_as<double>() + frame_length, w.begin());
  }
  const bool onesided = ctx.attr_i("onesided", 1) != 0;
  const bool complex_in = signal.shape()[2] == 2;
  const int64_t batch = signal.shape()[0], length = signal.shape()[1];
  ctx.check(length >= frame_length, "signal of length {} is shorter than one frame ({})", length,
            frame_length);
  const int64_t frames = 1 + (length - frame_length) / step;
  const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
  const int64_t comps = signal.shape()[2];
  const Tensor sd = convert_tensor(ctx, signal, ElementType::f64);
  std::vector<double> out(batch * frames * bins * 2), frame(frame_length * comps);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      const double* src = sd.data_as<double>() + (b * length + f * step) * comps;
      for (int64_t k = 0; k < frame_length * comps; ++k) frame[k] = src[k] * w[k / comps];
      dft_1d(frame.data(), frame_length, comps, complex_in, &out[((b * frames + f) * bins) * 2],
             bins, 2, frame_length, false);
    }
  }
  ctx.set_output(0, tensor_from_doubles(ctx, out, {batch, frames, bins, 2}, signal.element_type()));
}

// Triangular filters evenly spaced on the mel scale (mel = 2595 log10(1 + hz / 700)), as in the
// ONNX specification's reference: filter edges are rounded down to spectrogram bins.
void op_mel_weight_matrix(OpContext& ctx) {
  const auto mel_bins = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(0)));
  const auto dft_length = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(1)));
  const auto sample_rate = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(2)));
  const auto lower_hz = (scalar_as_double(ctx, ctx.input(3)));
  const auto upper_hz = (scalar_as_double(ctx, ctx.input(4)));
  ctx.check(mel_bins > 0 && dft_length > 0 && sample_rate > 0,
            "num_mel_bins ({}), dft_length ({}) and sample_rate ({}) must be positive", mel_bins,
            dft_length, sample_rate);
  const int64_t spectrogram_bins = dft_length / 2 + 1;
  const double low_mel = 2595.0 * std::log10(1.0 + lower_hz / 700.0);
  const double high_mel = 2595.0 * std::log10(1.0 + upper_hz / 700.0);
  // The num_mel_bins + 2 filter edges are spaced by range / (num_mel_bins + 2), so the last one
  // falls short of upper_edge_hertz: this is what the ONNX test data and ONNX Runtime compute.
  const double mel_step = (high_mel - low_mel) / double(mel_bins + 2);
  std::vector<int64_t> edge(mel_bins + 2);
  for (int64_t i = 0; i < mel_bins + 2; ++i) {
    const double hz = 700.0 * (std::pow(10.0, (double(i) * mel_step + low_mel) / 2595.0) - 1.0);
    edge[i] = static_cast<int64_t>(std::floor(double(dft_length + 1) * hz / double(sample_rate)));
  }
  std::vector<double> out(spectrogram_bins * mel_bins, 0.0);
  auto set = [&](int64_t bin, int64_t m, double v) {
    ctx.check(bin >= 0 && bin < spectrogram_bins, "filter edge {} outside [0, {})", bin,
              spectrogram_bins);
    out[bin * mel_bins + m] = v;
  };
  for (int64_t m = 0; m < mel_bins; ++m) {
    const int64_t left = edge[m], center = edge[m + 1], right = edge[m + 2];
    if (center == left) {
      set(center, m, 1.0);
    } else {
      for (int64_t j = left; j <= center; ++j) set(j, m, double(j - left) / double(center - left));
    }
    for (int64_t j = center; j < right; ++j) set(j, m, double(right - j) / double(right - center));
  }
  ctx.set_output(0,
                 tensor_from_doubles(ctx, out, {spectrogram_bins, mel_bins}, output_datatype(ctx)));
}

}  // namespace

void register_signal_ops(KernelRegistry& r) {
  r.add("DFT", op_dft);
  r.add("STFT", op_stft);
  r.add("HannWindow", op_hann_window);
  r.add("HammingWindow", op_hamming_window);
  r.add("BlackmanWindow", op_blackman_window);
  r.add("MelWeightMatrix", op_mel_weight_matrix);
}

}  // namespace sinter::cpu
