// jobq: a lock-free, in-process background job engine. Include this header for everything.
#pragma once

#include "jobq/clock.hpp"
#include "jobq/config.hpp"
#include "jobq/context.hpp"
#include "jobq/dead_letter.hpp"
#include "jobq/error.hpp"
#include "jobq/ids.hpp"
#include "jobq/job.hpp"
#include "jobq/json.hpp"
#include "jobq/manager.hpp"
#include "jobq/message.hpp"
#include "jobq/payload.hpp"
#include "jobq/registry.hpp"
#include "jobq/retry.hpp"
#include "jobq/stats.hpp"
#include "jobq/status.hpp"
#include "jobq/version.hpp"
