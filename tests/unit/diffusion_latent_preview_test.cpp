// The live preview against A1111's "Approx cheap" formula worked by hand: RGB = latents x
// coefficients, mapped from [-1, 1] to 0..255 and truncated.
#include <gtest/gtest.h>

#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

namespace {

namespace sd = sinter::diffusion;

TEST(LatentPreview, EachChannelContributesItsRowOfTheLinearFit) {
  // A 1x2 latent: pixel 0 is channel 0 at 1, pixel 1 is channel 3 at 1.
  const std::vector<float> latents = {1, 0, 0, 0, 0, 0, 0, 1};
  const sd::Image image = sd::latent_preview(latents.data(), 1, 2);
  ASSERT_EQ(image.width, 2);
  ASSERT_EQ(image.height, 1);
  // (0.298 + 1) / 2 * 255 = 165.49, (0.207 + 1) / 2 * 255 = 153.89, (0.208 + 1) / 2 * 255 = 154.02
  EXPECT_EQ(image.rgb[0], 165);
  EXPECT_EQ(image.rgb[1], 153);
  EXPECT_EQ(image.rgb[2], 154);
  // (-0.184 + 1) / 2 * 255 = 104.04, (-0.271 + 1) / 2 * 255 = 92.95, (-0.473 + 1) / 2 * 255 = 67.19
  EXPECT_EQ(image.rgb[3], 104);
  EXPECT_EQ(image.rgb[4], 92);
  EXPECT_EQ(image.rgb[5], 67);
}

TEST(LatentPreview, ClampsToTheImageRange) {
  const std::vector<float> latents = {10, -10, 0, -10};  // 1x1: far outside [-1, 1]
  const sd::Image image = sd::latent_preview(latents.data(), 1, 1);
  // R: 2.98 - 1.87 + 1.84 > 1; G: 2.07 - 2.86 + 2.71 > 1; B: 2.08 - 1.73 + 4.73 > 1.
  EXPECT_EQ(image.rgb, (std::vector<uint8_t>{255, 255, 255}));
  const std::vector<float> negative = {-10, 0, 0, 0};
  EXPECT_EQ(sd::latent_preview(negative.data(), 1, 1).rgb, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(LatentPreview, RefusesMissingLatents) {
  EXPECT_THROW(sd::latent_preview(nullptr, 1, 1), sinter::Error);
}

}  // namespace
