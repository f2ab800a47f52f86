// HETERO:D1,D2,...: one model split across devices. Built only on the device interface: the
// devices it is handed answer query() and compile their parts; the split is ir::partition_graph.
//
//   auto hetero = make_hetero_device({gpu, cpu}, {});
//   auto exe = hetero->compile(graph, options);   // subgraphs compiled on their devices
//   exe->run(values, &profile);                    // chained; profile.transfer_bytes
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "devices/device.hpp"

namespace sinter::hetero {

struct HeteroOptions {
  // "first": each node on the first listed device that supports it. "memory": devices fill up
  // in order, each with the weights its available memory holds; the rest goes to the next.
  std::string policy = "first";
};

std::unique_ptr<device::Device> make_hetero_device(
    std::vector<std::shared_ptr<const device::Device>> chain, HeteroOptions options);

}  // namespace sinter::hetero
