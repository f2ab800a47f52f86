// fp16 models on the CPU: what a model computes in float16 is computed in float32.
//
// Converters such as onnxconverter-common's float16 tool, and exports of half-precision
// networks, make every weight and activation f16, with Cast nodes around the ops they keep in
// f32 (Resize, here and there a normalisation). The CPU's fast paths are f32 (oneDNN on f16
// would convert on every call, the C++ kernels widen per element), so the device rewrites its
// copy of such a graph before anything else:
//   - f16 constants (initializers, Constant nodes, ConstantOfShape values) become f32, once;
//   - Cast to f16 becomes Cast to f32, and other nodes that make f16 by attribute (dtype of the
//     Random* and EyeLike ops) make f32;
//   - graph inputs declared f16 keep their type for the caller: one Cast to f32 follows each;
//     graph outputs declared f16 are cast back from f32 at the end;
//   - Casts that now convert f32 to f32 become Identity, which the next passes remove, so the
//     Cast pairs around f32 islands disappear and the fusions see one f32 graph.
// Results are f32 arithmetic of the same graph: closer to the exact values than f16 arithmetic,
// so they differ from an f16-computing runtime by its rounding (a few 1e-3 relative).
// If/Loop/Scan bodies are rewritten the same way.
#pragma once

#include "ir/graph.hpp"

namespace sinter::cpu {

// Returns the number of values (constants, node outputs and graph inputs) moved from f16 to
// f32; 0 leaves the graph untouched.
int widen_f16(ir::Graph& g);

}  // namespace sinter::cpu
