// The device-name grammar (docs/devices.md), table-driven: every accepted spelling with its
// canonical form, and strings that must be rejected.
#include <gtest/gtest.h>

#include "runtime/device_name.hpp"
#include "sinter/error.hpp"

using sinter::runtime::DeviceRequest;
using sinter::runtime::parse_device_name;

namespace {

struct Accepted {
  const char* text;
  const char* canonical;
  DeviceRequest::Kind kind;
};

const Accepted kAccepted[] = {
    {"CPU", "CPU", DeviceRequest::Kind::single},
    {"cpu", "CPU", DeviceRequest::Kind::single},
    {" Cpu ", "CPU", DeviceRequest::Kind::single},
    {"GPU", "GPU.0", DeviceRequest::Kind::single},
    {"gpu.0", "GPU.0", DeviceRequest::Kind::single},
    {"GPU.1", "GPU.1", DeviceRequest::Kind::single},
    {"GPU. 2", "GPU.2", DeviceRequest::Kind::single},
    {"0", "GPU.0", DeviceRequest::Kind::single},
    {"1", "GPU.1", DeviceRequest::Kind::single},
    {"12", "GPU.12", DeviceRequest::Kind::single},
    {"HETERO:GPU,CPU", "HETERO:GPU.0,CPU", DeviceRequest::Kind::hetero},
    {"hetero:1, cpu", "HETERO:GPU.1,CPU", DeviceRequest::Kind::hetero},
    {"HETERO:CPU", "HETERO:CPU", DeviceRequest::Kind::hetero},
    {"AUTO", "AUTO", DeviceRequest::Kind::auto_select},
    {"auto", "AUTO", DeviceRequest::Kind::auto_select},
    {"AUTO:GPU.1,CPU", "AUTO:GPU.1,CPU", DeviceRequest::Kind::auto_select},
    {"AUTO:0", "AUTO:GPU.0", DeviceRequest::Kind::auto_select},
    {"AUTO:-CPU", "AUTO:-CPU", DeviceRequest::Kind::auto_select},
    {"AUTO:-GPU,-CPU", "AUTO:-GPU.0,-CPU", DeviceRequest::Kind::auto_select},
};

const char* const kRejected[] = {
    "",
    "   ",
    "TPU",
    "GPU.",
    "GPU.x",
    "GPU.-1",
    "GPU0",
    "-1",
    "1.5",
    "CPU.0",
    "HETERO",
    "HETERO:",
    "HETERO:CPU,",
    "HETERO:,CPU",
    "HETERO:CPU,CPU",
    "HETERO:TPU",
    "HETERO:-CPU",
    "AUTO:",
    "AUTO:CPU,-GPU",
    "AUTO:-",
    "AUTO:GPU,GPU.0",
    "AUTOCPU",
    "CPU,GPU",
    "99999",
};

}  // namespace

TEST(DeviceName, AcceptedSpellings) {
  for (const auto& a : kAccepted) {
    SCOPED_TRACE(a.text);
    const DeviceRequest r = parse_device_name(a.text);
    EXPECT_EQ(r.canonical(), a.canonical);
    EXPECT_EQ(r.kind, a.kind);
    EXPECT_EQ(r.text, a.text);
  }
}

TEST(DeviceName, RejectedStringsAreInvalidArguments) {
  for (const char* text : kRejected) {
    SCOPED_TRACE(std::string("'") + text + "'");
    try {
      parse_device_name(text);
      ADD_FAILURE() << "accepted";
    } catch (const sinter::Error& e) {
      EXPECT_EQ(e.category(), sinter::ErrorCategory::invalid_argument);
      // The message quotes what was typed and shows the grammar.
      EXPECT_NE(std::string(e.what()).find(std::string("'") + text + "'"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("HETERO:D1,D2"), std::string::npos) << e.what();
    }
  }
}
