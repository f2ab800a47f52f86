#include "zoo.hpp"

#include <filesystem>

namespace zoo {

const std::vector<ZooModel>& all_models() {
  static const std::vector<ZooModel> models = {
      {"resnet50", "ResNet-50 v1.5, 224x224, BatchNorm, bottlenecks [3,4,6,3]", build_resnet50},
      {"mobilenet_v3", "MobileNetV3-Small: depthwise conv, hard-swish, squeeze-excite",
       build_mobilenet_v3},
      {"bert", "BERT-base dimensions (768 hidden, 12 heads), 2 layers, external data", build_bert},
      {"decoder",
       "GPT-2-style causal decoder (256 hidden, 4 heads, 2 layers) as written before opset 17",
       build_decoder},
      {"vit", "ViT-Tiny/16 classifier, 224x224, 4 layers", build_vit},
      {"text_encoder", "CLIP-style causal text encoder, Trilu mask, ArgMax pooling",
       build_text_encoder},
      {"unet", "UNet denoiser: GroupNorm, timestep embedding, cross-attention, Resize, Concat",
       build_unet},
      {"vae_decoder", "VAE decoder: ResNet blocks, mid attention, 3 nearest upsamplings",
       build_vae_decoder},
      {"recurrent", "Tagger: bidirectional LSTM with sequence lengths, GRU, reverse RNN with clip",
       build_recurrent},
      {"operator_mix",
       "Einsum, GridSample, RoiAlign, NonMaxSuppression, DFT, STFT on random inputs",
       build_operator_mix},
      {"efficientnet", "EfficientNet-B0: SiLU, squeeze-excite with a Sigmoid gate, 5x5 depthwise",
       build_efficientnet},
      {"convnext", "ConvNeXt (Tiny widths, 6 blocks): 7x7 depthwise, LayerNorm both ways, GELU",
       build_convnext},
      {"yolo", "YOLOv8n-style detector, 320x320: C2f with Split/Concat, SPPF, upsampling neck",
       build_yolo},
      {"resnet_qdq",
       "ResNet-18 quantized as quantize_static writes QDQ: uint8 and int8 activations, int8 "
       "per-channel weights, int32 biases",
       build_resnet_qdq},
      {"cnn_qoperator",
       "Small CNN in the QOperator format: QLinearConv, MaxPool on uint8 codes, QLinearMatMul",
       build_cnn_qoperator},
  };
  return models;
}

const std::vector<ZooModel>& all_pipelines() {
  static const std::vector<ZooModel> pipelines = {
      {"sd-tiny",
       "Stable Diffusion 1.x pipeline in the diffusers ONNX layout, a few channels wide: text "
       "encoder, UNet, VAE decoder and encoder, BPE tokenizer, SD 1.5 scheduler config",
       build_sd_tiny},
      {"sd15",
       "Stable Diffusion 1.5's architecture at full size (UNet 860M parameters, CLIP ViT-L text "
       "encoder, VAE), random weights, external data: about 4.3 GB, for measurements",
       build_sd15},
  };
  return pipelines;
}

sinter::Tensor random_floats(Random& rng, const sinter::Shape& shape, float lo, float hi) {
  sinter::Tensor t(sinter::ElementType::f32, shape);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.element_count(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

sinter::Tensor random_ids(Random& rng, const sinter::Shape& shape, int64_t vocab) {
  sinter::Tensor t(sinter::ElementType::i64, shape);
  int64_t* p = t.data_as<int64_t>();
  for (int64_t i = 0; i < t.element_count(); ++i)
    p[i] = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(vocab));
  return t;
}

void write_inputs(const std::string& dir, const std::vector<std::string>& names,
                  const std::vector<sinter::Tensor>& tensors) {
  std::filesystem::create_directories(std::filesystem::path(dir) / "inputs");
  for (size_t i = 0; i < names.size(); ++i)
    sinter::save_npy(tensors[i], dir + "/inputs/" + names[i] + ".npy");
}

}  // namespace zoo
