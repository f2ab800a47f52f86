// Everything a user of sinter includes.
#pragma once

#include "sinter/compare.hpp"
#include "sinter/config.hpp"
#include "sinter/core.hpp"
#include "sinter/error.hpp"
#include "sinter/tensor.hpp"
