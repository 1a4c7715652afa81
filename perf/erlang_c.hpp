// The M/M/c queue (Erlang C): Poisson arrivals at rate λ, exponential service with mean S = 1/μ,
// c workers, one FIFO queue. Offered load a = λS (in Erlangs), utilization ρ = a/c; the queue is
// stable only when ρ < 1.
//
//   Erlang B, by the recurrence   B(0) = 1,   B(k) = a·B(k−1) / (k + a·B(k−1)),
//   Erlang C, P(an arrival waits) C = B(c) / (1 − ρ·(1 − B(c))).
//
// The recurrence only ever divides numbers of similar size, each B(k) in (0, 1], so it stays
// accurate for thousands of workers, where a^c / c! would overflow long before.
//
// The wait in the queue has an atom 1 − C at zero and, with probability C, is exponential with
// rate θ = cμ − λ:   P(W > t) = C·e^{−θt}.   Hence
//   mean wait      E[W] = C / θ,
//   q-quantile     t_q = ln(C / (1 − q)) / θ   if C > 1 − q, else 0.
// The response time T = W + service adds an independent Exp(μ):
//   P(T > t) = (1 − C)·e^{−μt} + C·P(Exp(θ) + Exp(μ) > t),
//   P(Exp(θ) + Exp(μ) > t) = (μ·e^{−θt} − θ·e^{−μt}) / (μ − θ)   (θ ≠ μ;  (1 + μt)·e^{−μt} when θ = μ),
// whose quantile is found by bisection. Real handlers are rarely exponential, so treat the figures
// as an estimate: a fixed service time waits less than this, a heavy-tailed one more.
#pragma once

#include <cmath>
#include <limits>

namespace jobq_perf {

struct MmcEstimate {
  unsigned workers = 0;
  double offered_load = 0;   ///< a = λS, in Erlangs
  double utilization = 0;    ///< ρ = a / c
  bool stable = false;       ///< ρ < 1; every figure below is +inf (or 1) otherwise
  double p_wait = 1;         ///< Erlang C: the probability that a job waits at all
  double mean_wait_s = std::numeric_limits<double>::infinity();
  double wait_quantile_s = std::numeric_limits<double>::infinity();      ///< of the wait, at q
  double mean_response_s = std::numeric_limits<double>::infinity();      ///< wait + service
  double response_quantile_s = std::numeric_limits<double>::infinity();  ///< of wait + service, at q
};

/// Erlang B for `workers` servers and offered load `a`, by the stable recurrence above.
inline double erlang_b(unsigned workers, double a) noexcept {
  double b = 1.0;
  for (unsigned k = 1; k <= workers; ++k) b = a * b / (static_cast<double>(k) + a * b);
  return b;
}

/// Erlang C: the probability that an arrival waits; 1 when the queue is not stable.
inline double erlang_c(unsigned workers, double a) noexcept {
  const double rho = a / static_cast<double>(workers);
  if (rho >= 1.0) return 1.0;
  const double b = erlang_b(workers, a);
  return b / (1.0 - rho * (1.0 - b));
}

/// The M/M/c figures for `arrival_rate` jobs/s, `service_mean_s` seconds per job, `workers`
/// workers, with quantiles at `q` (0.99 for p99).
inline MmcEstimate mmc_estimate(double arrival_rate, double service_mean_s, unsigned workers, double q = 0.99) {
  MmcEstimate e;
  e.workers = workers;
  e.offered_load = arrival_rate * service_mean_s;
  e.utilization = e.offered_load / static_cast<double>(workers);
  e.stable = e.utilization < 1.0;
  if (!e.stable) return e;

  const double mu = 1.0 / service_mean_s;
  const double theta = static_cast<double>(workers) * mu - arrival_rate;  // > 0 when stable
  const double c = erlang_c(workers, e.offered_load);
  const double tail = 1.0 - q;
  e.p_wait = c;
  e.mean_wait_s = c / theta;
  e.wait_quantile_s = c > tail ? std::log(c / tail) / theta : 0.0;
  e.mean_response_s = e.mean_wait_s + service_mean_s;

  auto response_tail = [&](double t) {
    double both;  // P(Exp(θ) + Exp(μ) > t)
    if (std::abs(mu - theta) > 1e-9 * mu) {
      both = (mu * std::exp(-theta * t) - theta * std::exp(-mu * t)) / (mu - theta);
    } else {
      both = (1.0 + mu * t) * std::exp(-mu * t);
    }
    return (1.0 - c) * std::exp(-mu * t) + c * both;
  };
  double low = 0.0;
  double high = service_mean_s;
  while (response_tail(high) > tail) high *= 2;  // P(T > t) falls to 0, so this ends
  for (int i = 0; i < 200 && high - low > 1e-12 * high; ++i) {
    const double mid = (low + high) / 2;
    (response_tail(mid) > tail ? low : high) = mid;
  }
  e.response_quantile_s = high;
  return e;
}

}  // namespace jobq_perf
