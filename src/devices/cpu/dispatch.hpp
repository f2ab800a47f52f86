// Element-type dispatch for templated kernels.
//
//   dispatch_numeric(t.element_type(), ctx, [&]<typename T>() { run<T>(...); });
//
// The lambda is instantiated once per type of the set; an element type outside the set is an
// unsupported_op error naming the node.
#pragma once

#include <cstdint>
#include <string>

#include "base/half.hpp"
#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

template <typename T>
constexpr bool is_floating_v =
    std::is_floating_point_v<T> || std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

// Type used for arithmetic on T: float for the 16-bit floats, T otherwise.
template <typename T>
using compute_t = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float, T>;

inline bool is_floating_type(ElementType t) {
  return t == ElementType::f32 || t == ElementType::f64 || t == ElementType::f16 ||
         t == ElementType::bf16;
}

[[noreturn]] void unsupported_type(const OpContext& ctx, ElementType type);

#define SINTER_TYPE_CASE(ENUM, TYPE) \
  case ElementType::ENUM:            \
    return f.template operator()<TYPE>();

template <typename F>
decltype(auto) dispatch_float(ElementType t, const OpContext& ctx, F&& f) {
  switch (t) {
    SINTER_TYPE_CASE(f32, float)
    SINTER_TYPE_CASE(f64, double)
    SINTER_TYPE_CASE(f16, f16)
    SINTER_TYPE_CASE(bf16, bf16)
    default:
      unsupported_type(ctx, t);
  }
}

template <typename F>
decltype(auto) dispatch_signed(ElementType t, const OpContext& ctx, F&& f) {
  switch (t) {
    SINTER_TYPE_CASE(f32, float)
    SINTER_TYPE_CASE(f64, double)
    SINTER_TYPE_CASE(f16, f16)
    SINTER_TYPE_CASE(bf16, bf16)
    SINTER_TYPE_CASE(i8, int8_t)
    SINTER_TYPE_CASE(i16, int16_t)
    SINTER_TYPE_CASE(i32, int32_t)
    SINTER_TYPE_CASE(i64, int64_t)
    default:
      unsupported_type(ctx, t);
  }
}

template <typename F>
decltype(auto) dispatch_integer(ElementType t, const OpContext& ctx, F&& f) {
  switch (t) {
    SINTER_TYPE_CASE(i8, int8_t)
    SINTER_TYPE_CASE(i16, int16_t)
    SINTER_TYPE_CASE(i32, int32_t)
    SINTER_TYPE_CASE(i64, int64_t)
    SINTER_TYPE_CASE(u8, uint8_t)
    SINTER_TYPE_CASE(u16, uint16_t)
    SINTER_TYPE_CASE(u32, uint32_t)
    SINTER_TYPE_CASE(u64, uint64_t)
    default:
      unsupported_type(ctx, t);
  }
}

template <typename F>
decltype(auto) dispatch_numeric(ElementType t, const OpContext& ctx, F&& f) {
  switch (t) {
    SINTER_TYPE_CASE(f32, float)
    SINTER_TYPE_CASE(f64, double)
    SINTER_TYPE_CASE(f16, f16)
    SINTER_TYPE_CASE(bf16, bf16)
    SINTER_TYPE_CASE(i8, int8_t)
    SINTER_TYPE_CASE(i16, int16_t)
    SINTER_TYPE_CASE(i32, int32_t)
    SINTER_TYPE_CASE(i64, int64_t)
    SINTER_TYPE_CASE(u8, uint8_t)
    SINTER_TYPE_CASE(u16, uint16_t)
    SINTER_TYPE_CASE(u32, uint32_t)
    SINTER_TYPE_CASE(u64, uint64_t)
    default:
      unsupported_type(ctx, t);
  }
}

// Numeric types plus bool.
template <typename F>
decltype(auto) dispatch_all(ElementType t, const OpContext& ctx, F&& f) {
  if (t == ElementType::boolean) return f.template operator()<bool>();
  return dispatch_numeric(t, ctx, std::forward<F>(f));
}

// Numeric, bool and string: for ops that only move elements.
template <typename F>
decltype(auto) dispatch_any(ElementType t, const OpContext& ctx, F&& f) {
  if (t == ElementType::string) return f.template operator()<std::string>();
  return dispatch_all(t, ctx, std::forward<F>(f));
}

#undef SINTER_TYPE_CASE

template <typename T>
constexpr ElementType element_type_of() {
  if constexpr (std::is_same_v<T, float>)
    return ElementType::f32;
  else if constexpr (std::is_same_v<T, double>)
    return ElementType::f64;
  else if constexpr (std::is_same_v<T, f16>)
    return ElementType::f16;
  else if constexpr (std::is_same_v<T, bf16>)
    return ElementType::bf16;
  else if constexpr (std::is_same_v<T, int8_t>)
    return ElementType::i8;
  else if constexpr (std::is_same_v<T, int16_t>)
    return ElementType::i16;
  else if constexpr (std::is_same_v<T, int32_t>)
    return ElementType::i32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return ElementType::i64;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return ElementType::u8;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return ElementType::u16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return ElementType::u32;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return ElementType::u64;
  else if constexpr (std::is_same_v<T, bool>)
    return ElementType::boolean;
  else if constexpr (std::is_same_v<T, std::string>)
    return ElementType::string;
  else
    return ElementType::undefined;
}

}  // namespace sinter::cpu
