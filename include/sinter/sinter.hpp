// Everything a user of sinter includes.
#pragma once

#include "sinter/core.hpp"
#include "sinter/error.hpp"
#include "sinter/tensor.hpp"
