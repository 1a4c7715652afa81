// What a durable queue's lane sees of the engine: a way to put fetched jobs on the queue's ring.
#pragma once

#include <concurrentqueue.h>

#include "jobq/lane.hpp"

namespace jobq::internal {

class Engine;
struct QueueRuntime;

/// One per durable queue, made by start(). deliver() is called by the lane's fetching thread
/// only, so the ring's producer token is its own.
class LaneBridge final : public LaneIntake {
 public:
  LaneBridge(Engine& engine, QueueRuntime& queue);
  bool deliver(LaneDelivery&& job) override;
  void hold(bool paused) override;

 private:
  Engine& engine_;
  QueueRuntime& queue_;
  moodycamel::ProducerToken token_;
};

}  // namespace jobq::internal
