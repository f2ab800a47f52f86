// A recurrent tagger: every RNN variant the ONNX tests leave out (bidirectional LSTM with
// per-row sequence lengths and peepholes, GRU with linear_before_reset, a reverse RNN with
// clipping).

#include <cmath>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {

void build_recurrent(const std::string& dir) {
  const int64_t batch = 3, seq = 20, features = 40, hidden = 64;
  ModelBuilder b("recurrent_tagger", 20);
  const std::string x = b.input("features", onnx::TensorProto::FLOAT,
                                {int64_t{seq}, std::string("batch"), int64_t{features}});
  const std::string lengths = b.input("lengths", onnx::TensorProto::INT32, {std::string("batch")});

  auto recurrent_weights = [&](int64_t dirs, int64_t gates, int64_t in) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(hidden));
    return std::vector<std::string>{b.weight("W", {dirs, gates * hidden, in}, scale),
                                    b.weight("R", {dirs, gates * hidden, hidden}, scale),
                                    b.weight("B", {dirs, 2 * gates * hidden}, 0.1f)};
  };
  // Bidirectional LSTM over [seq, batch, features] -> Y [seq, 2, batch, hidden].
  auto lw = recurrent_weights(2, 4, features);
  const auto lstm = b.node_n(
      "LSTM", {x, lw[0], lw[1], lw[2], lengths, "", "", b.weight("P", {2, 3 * hidden}, 0.1f)}, 3,
      {{"hidden_size", hidden}, {"direction", std::string("bidirectional")}});
  // [seq, 2, batch, hidden] -> [seq, batch, 2 * hidden]
  std::string y = b.node("Transpose", {lstm[0]}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  y = b.node("Reshape", {y, b.ints("merge_dirs", {0, 0, 2 * hidden})});

  auto gw = recurrent_weights(1, 3, 2 * hidden);
  const auto gru = b.node_n("GRU", {y, gw[0], gw[1], gw[2], lengths}, 2,
                            {{"hidden_size", hidden}, {"linear_before_reset", int64_t{1}}});
  y = b.node("Squeeze", {gru[0], b.ints("dir_axis", {1})});  // [seq, batch, hidden]

  // A reverse RNN with clipping. (Batch-first layout = 1 is covered by the ONNX backend tests;
  // ONNX Runtime's CPU provider does not implement it.)
  auto rw = recurrent_weights(1, 1, hidden);
  const auto rnn =
      b.node_n("RNN", {y, rw[0], rw[1], rw[2]}, 2,
               {{"hidden_size", hidden}, {"direction", std::string("reverse")}, {"clip", 2.0f}});
  b.output(rnn[0], "sequence");
  b.output(lstm[1], "lstm_state");
  b.output(lstm[2], "lstm_cell");
  b.output(gru[1], "gru_state");
  b.output(rnn[1], "rnn_state");
  b.save(dir + "/model.onnx");

  sinter::Tensor lens(sinter::ElementType::i32, {batch});
  lens.data_as<int32_t>()[0] = seq;
  lens.data_as<int32_t>()[1] = 13;
  lens.data_as<int32_t>()[2] = 1;
  write_inputs(dir, {"features", "lengths"},
               {random_floats(b.rng(), {seq, batch, features}, -1.0f, 1.0f), lens});
}

}  // namespace zoo
