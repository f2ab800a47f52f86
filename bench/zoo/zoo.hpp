#pragma once
// The model zoo: real architectures with deterministic random weights, built without downloads.
// Each entry writes `<dir>/model.onnx` (plus external data where noted) and one
// `<dir>/inputs/<input name>.npy` per graph input.

#include <sinter/tensor.hpp>

#include <functional>
#include <string>
#include <vector>

#include "model_builder.hpp"

namespace zoo {

struct ZooModel {
  std::string name;
  std::string description;
  std::function<void(const std::string& dir)> build;
};

const std::vector<ZooModel>& all_models();
// Pipelines (folders of several models and configs, built only when named): the same shape.
const std::vector<ZooModel>& all_pipelines();

// Input helpers shared by the model files.
sinter::Tensor random_floats(Random& rng, const sinter::Shape& shape, float lo, float hi);
sinter::Tensor random_ids(Random& rng, const sinter::Shape& shape, int64_t vocab);
void write_inputs(const std::string& dir, const std::vector<std::string>& names,
                  const std::vector<sinter::Tensor>& tensors);

// Architectures, grouped by family (models_*.cpp).
void build_resnet50(const std::string& dir);
void build_mobilenet_v3(const std::string& dir);
void build_bert(const std::string& dir);
void build_decoder(const std::string& dir);
void build_vit(const std::string& dir);
void build_text_encoder(const std::string& dir);
void build_unet(const std::string& dir);
void build_vae_decoder(const std::string& dir);
void build_recurrent(const std::string& dir);
void build_operator_mix(const std::string& dir);
void build_efficientnet(const std::string& dir);
void build_convnext(const std::string& dir);
void build_yolo(const std::string& dir);
void build_resnet_qdq(const std::string& dir);
void build_cnn_qoperator(const std::string& dir);
void build_sd_tiny(const std::string& dir);
void build_sd15(const std::string& dir);

}  // namespace zoo
