// whale::inventory: stockout forecasts from daily sales history. The method and its
// measured error on the fixtures are in docs/inventory.md.
//
// Demand is forecast with Holt's linear (double exponential) smoothing; alpha and beta are fit
// per product over a fixed grid by one-step-ahead squared error. The baseline is a flat mean of
// the last 90 days. Forecasts are never negative: the trend is clamped so that level + h * trend
// stays at or above zero.
//
// Bit-for-bit reproducible: only + - * / and integer arithmetic, no libm, so native,
// wasm32-wasi and emscripten builds give the same doubles (build with -ffp-contract=off).
// Pure functions, no allocation except the sells_out_by string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "whale/config.h"

namespace whale::inventory {

// Stockouts further out than this are reported as "does not sell out" (urgencyDays is at most 365).
inline constexpr int32_t max_horizon_days = 365;
// The baseline's window: the mean of the last this many days.
inline constexpr size_t flat_mean_window = 90;

enum class urgency : uint8_t {
  sold_out,  // on hand is 0 (or less): nothing to sell now
  high,      // sells out within urgency_days / 2 days
  medium,    // sells out within urgency_days days
  low,       // sells out later, or not within max_horizon_days
};

// "soldOut", "high", "medium", "low": the strings injected into product-grid props.
const char* urgency_name(urgency u) noexcept;

enum class method : uint8_t {
  holt,       // Holt's linear smoothing, parameters fit per series (the default)
  flat_mean,  // mean of the last flat_mean_window days (the baseline)
};

// A fitted demand model: forecast for day h (1 = the day after the last observation) is
// max(0, level + h * trend).
struct model {
  double level = 0;   // units per day at the last observation
  double trend = 0;   // units per day, per day
  double alpha = 0;   // chosen smoothing weights (0 for the flat mean)
  double beta = 0;
  // Units per day forecast for day h >= 1 (never negative).
  double demand(int32_t h) const noexcept;
};

// Fits a model to `n` daily sales, oldest first. n == 0 gives a zero model. Negative or
// non-finite entries are read as 0 (the config refuses them anyway).
model fit(const double* sales, size_t n, method m = method::holt) noexcept;

struct forecast {
  bool sells_out = false;    // on hand runs out within max_horizon_days (true when already 0)
  // Day offset from the last sales day (salesThrough) of the first day whose forecast
  // cumulative demand reaches on hand: 1 = the next day. 0 when on hand is already 0; -1 when
  // it does not sell out within the horizon.
  int32_t days_left = -1;
  // salesThrough + days_left as "YYYY-MM-DD"; empty when it does not sell out or when
  // salesThrough is unknown.
  std::string sells_out_by;
  urgency level = urgency::low;
  // Ordering key, higher first: 1 / (fractional days until stock runs out), in (0, +inf) for
  // products that sell out, 0 when they do not within the horizon, -1 when sold out (sold-out
  // products go last).
  double score = 0;
  double daily_demand = 0;  // forecast units for the next day (model::demand(1))
};

// Forecasts when `on_hand` runs out given `n` daily sales ending on `sales_through` (days since
// 1970-01-01; nullopt: sells_out_by stays empty). urgency_days is the catalog's
// inventory.urgencyDays (> 0).
forecast forecast_stockout(const double* sales, size_t n, double on_hand, double urgency_days,
                           std::optional<int32_t> sales_through, method m = method::holt);
// The same for a catalog product (its daily_sales, on_hand and the catalog's settings).
forecast forecast_product(const config::product& p, const config::product_catalog& catalog,
                          method m = method::holt);

// Fractional days until cumulative forecast demand reaches on_hand (within max_horizon_days),
// or -1 when it does not. 0 when on_hand <= 0.
double days_until_stockout(const model& fitted, double on_hand) noexcept;

// ---- Civil dates (proleptic Gregorian, integer arithmetic) -------------------------------------

// "YYYY-MM-DD" of days since 1970-01-01 (years 0000-9999; outside that range: empty).
std::string format_date(int32_t days_since_epoch);
// Days since 1970-01-01 of a strict "YYYY-MM-DD"; nullopt when malformed or not a real date.
std::optional<int32_t> parse_date(std::string_view text) noexcept;

// ---- Evaluation on held-out data (docs/inventory.md) ------------------------------------------

// Error sums of one series' hold-out: fit on all but the last `holdout` days, forecast them.
// Sums rather than means so that a table can pool them over many products.
struct holdout_error {
  size_t days = 0;             // forecast days compared
  double abs_error = 0;        // sum of |forecast - actual| daily demand
  double actual_total = 0;     // sum of actual daily demand (WAPE = abs_error / actual_total)
  size_t pct_days = 0;         // days with actual > 0 (the only ones MAPE is defined on)
  double abs_pct_error = 0;    // sum of |forecast - actual| / actual over those days
  // Stockout day: on hand set to half the actual held-out total (defined when that is > 0);
  // the actual day is when actual cumulative sales reach it, the forecast day the model's
  // (capped at holdout + 1 when the model says it does not sell out within the hold-out).
  bool stockout_defined = false;
  int32_t stockout_actual = 0;
  int32_t stockout_forecast = 0;
};

// Requires n > holdout; otherwise returns an empty holdout_error (days == 0).
holdout_error evaluate_holdout(const double* sales, size_t n, size_t holdout, method m) noexcept;

}  // namespace whale::inventory
