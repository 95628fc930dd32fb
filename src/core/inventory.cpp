// Stockout forecasts: Holt's linear smoothing fit on a grid, and the flat-mean baseline.
// Only + - * / and integer arithmetic, so every target computes the same bits.
#include "whale/inventory.h"

#include <cfloat>

namespace whale::inventory {
namespace {

// Holt needs this many days to initialize level and trend; shorter histories get the mean.
constexpr size_t min_holt_days = 7;
// Only the most recent days are fit: older demand says little about next week, and it bounds
// the work to grid size * this per product.
constexpr size_t max_fit_days = 180;

// The grid of smoothing weights. Literals, so the same doubles on every target.
constexpr double alpha_grid[] = {0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8};
constexpr double beta_grid[] = {0.0, 0.01, 0.02, 0.05, 0.1, 0.2};

// Sales as the model reads them: NaN, infinities and negatives count as no sale.
double clean(double v) noexcept { return (v > 0 && v <= DBL_MAX) ? v : 0; }

double non_negative(double v) noexcept { return v > 0 ? v : 0; }

double mean(const double* x, size_t n) noexcept {
  if (n == 0) return 0;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += clean(x[i]);
  return sum / static_cast<double>(n);
}

model flat_mean_model(const double* x, size_t n) noexcept {
  size_t window = n < flat_mean_window ? n : flat_mean_window;
  model m;
  m.level = mean(x + (n - window), window);
  return m;
}

struct holt_state {
  double level;
  double trend;
};

// The least-squares line through the whole window, extended back one day: the state before
// the first observation. A line through all the days is far less noisy than the slope between
// the first two weeks.
holt_state initial_state(const double* x, size_t n) noexcept {
  double count = static_cast<double>(n);
  double mean_t = (count - 1) / 2;
  double mean_y = mean(x, n);
  double sxy = 0;
  double sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    double dt = static_cast<double>(i) - mean_t;
    sxy += dt * (clean(x[i]) - mean_y);
    sxx += dt * dt;
  }
  double trend = sxx > 0 ? sxy / sxx : 0;
  double level = mean_y - trend * (mean_t + 1);
  return {non_negative(level), trend};
}

// Runs Holt over x[start, n) from `init`; returns the one-step-ahead sum of squared errors and
// leaves the final state in `out`.
double run_holt(const double* x, size_t start, size_t n, holt_state init, double alpha, double beta,
                holt_state& out) noexcept {
  double level = init.level;
  double trend = init.trend;
  double sse = 0;
  for (size_t t = start; t < n; ++t) {
    double y = clean(x[t]);
    double predicted = non_negative(level + trend);
    double error = y - predicted;
    sse += error * error;
    double next_level = non_negative(alpha * y + (1 - alpha) * (level + trend));
    trend = beta * (next_level - level) + (1 - beta) * trend;
    level = next_level;
  }
  out = {level, trend};
  return sse;
}

model holt_model(const double* x, size_t n) noexcept {
  if (n < min_holt_days) {
    model m;
    m.level = mean(x, n);
    return m;
  }
  if (n > max_fit_days) {
    x += n - max_fit_days;
    n = max_fit_days;
  }
  holt_state init = initial_state(x, n);
  size_t start = 0;
  model best;
  double best_sse = -1;
  for (double alpha : alpha_grid) {
    for (double beta : beta_grid) {
      holt_state end{};
      double sse = run_holt(x, start, n, init, alpha, beta, end);
      // Strictly lower wins, so ties keep the first grid point: deterministic.
      if (best_sse < 0 || sse < best_sse) {
        best_sse = sse;
        best.level = end.level;
        best.trend = end.trend;
        best.alpha = alpha;
        best.beta = beta;
      }
    }
  }
  return best;
}

// The whole day (1-based) on which fractional stockout time t falls: t in (d-1, d] -> d.
int32_t stockout_day(double t) noexcept {
  auto whole = static_cast<int32_t>(t);
  return static_cast<double>(whole) < t ? whole + 1 : whole;
}

// Days since 1970-01-01 of a proleptic Gregorian date: counts whole 400-year eras from
// 0000-03-01, so that the leap day falls at the end of each shifted year.
int32_t days_from_civil(int32_t year, int32_t month, int32_t day) noexcept {
  year -= month <= 2 ? 1 : 0;
  int32_t era = (year >= 0 ? year : year - 399) / 400;
  int32_t year_of_era = year - era * 400;                                   // [0, 399]
  int32_t shifted_month = month > 2 ? month - 3 : month + 9;                // March = 0
  int32_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;            // [0, 365]
  int32_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

struct civil {
  int32_t year;
  int32_t month;
  int32_t day;
};

civil civil_from_days(int32_t days) noexcept {
  int64_t z = static_cast<int64_t>(days) + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t day_of_era = z - era * 146097;                                                // [0, 146096]
  int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t shifted_month = (5 * day_of_year + 2) / 153;                                  // March = 0
  auto day = static_cast<int32_t>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  auto month = static_cast<int32_t>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  auto year = static_cast<int32_t>(year_of_era + era * 400 + (month <= 2 ? 1 : 0));
  return {year, month, day};
}

bool is_leap(int32_t year) noexcept { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int32_t days_in_month(int32_t year, int32_t month) noexcept {
  constexpr int32_t lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : lengths[month - 1];
}

void append_digits(int32_t value, int width, std::string& out) {
  char buf[4];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

// Reads exactly `width` ASCII digits at text[pos]; -1 when any is not a digit.
int32_t read_digits(std::string_view text, size_t pos, size_t width) noexcept {
  int32_t value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

const char* urgency_name(urgency u) noexcept {
  switch (u) {
    case urgency::sold_out: return "soldOut";
    case urgency::high: return "high";
    case urgency::medium: return "medium";
    case urgency::low: return "low";
  }
  return "low";
}

double model::demand(int32_t h) const noexcept {
  return non_negative(level + static_cast<double>(h) * trend);
}

model fit(const double* sales, size_t n, method m) noexcept {
  if (sales == nullptr || n == 0) return model{};
  return m == method::flat_mean ? flat_mean_model(sales, n) : holt_model(sales, n);
}

double days_until_stockout(const model& fitted, double on_hand) noexcept {
  if (!(on_hand > 0)) return 0;
  double cumulative = 0;
  for (int32_t h = 1; h <= max_horizon_days; ++h) {
    double d = fitted.demand(h);
    // d > 0 here: otherwise cumulative (< on_hand) would not reach on_hand.
    if (cumulative + d >= on_hand) return static_cast<double>(h - 1) + (on_hand - cumulative) / d;
    cumulative += d;
  }
  return -1;
}

forecast forecast_stockout(const double* sales, size_t n, double on_hand, double urgency_days,
                           std::optional<int32_t> sales_through, method m) {
  forecast f;
  model fitted = fit(sales, n, m);
  f.daily_demand = fitted.demand(1);
  if (!(on_hand > 0)) {
    f.sells_out = true;
    f.days_left = 0;
    f.level = urgency::sold_out;
    f.score = -1;
  } else {
    double t = days_until_stockout(fitted, on_hand);
    if (t > 0) {
      f.sells_out = true;
      f.days_left = stockout_day(t);
      f.score = 1 / t;
      double days = static_cast<double>(f.days_left);
      f.level = days <= urgency_days / 2 ? urgency::high : days <= urgency_days ? urgency::medium : urgency::low;
    }
  }
  if (f.sells_out && sales_through) f.sells_out_by = format_date(*sales_through + f.days_left);
  return f;
}

forecast forecast_product(const config::product& p, const config::product_catalog& catalog, method m) {
  return forecast_stockout(p.daily_sales.data, p.daily_sales.size, p.on_hand, catalog.urgency_days,
                           catalog.sales_through, m);
}

std::string format_date(int32_t days_since_epoch) {
  civil c = civil_from_days(days_since_epoch);
  if (c.year < 0 || c.year > 9999) return {};
  std::string out;
  out.reserve(10);
  append_digits(c.year, 4, out);
  out += '-';
  append_digits(c.month, 2, out);
  out += '-';
  append_digits(c.day, 2, out);
  return out;
}

std::optional<int32_t> parse_date(std::string_view text) noexcept {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int32_t year = read_digits(text, 0, 4);
  int32_t month = read_digits(text, 5, 2);
  int32_t day = read_digits(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  return days_from_civil(year, month, day);
}

holdout_error evaluate_holdout(const double* sales, size_t n, size_t holdout, method m) noexcept {
  holdout_error e;
  if (sales == nullptr || holdout == 0 || n <= holdout) return e;
  size_t train = n - holdout;
  model fitted = fit(sales, train, m);
  for (size_t h = 1; h <= holdout; ++h) {
    double actual = clean(sales[train + h - 1]);
    double predicted = fitted.demand(static_cast<int32_t>(h));
    double error = predicted > actual ? predicted - actual : actual - predicted;
    e.days += 1;
    e.abs_error += error;
    e.actual_total += actual;
    if (actual > 0) {
      e.pct_days += 1;
      e.abs_pct_error += error / actual;
    }
  }
  if (e.actual_total > 0) {
    double on_hand = e.actual_total / 2;
    double cumulative = 0;
    for (size_t h = 1; h <= holdout; ++h) {
      cumulative += clean(sales[train + h - 1]);
      if (cumulative >= on_hand) {
        e.stockout_actual = static_cast<int32_t>(h);
        break;
      }
    }
    double t = days_until_stockout(fitted, on_hand);
    auto cap = static_cast<int32_t>(holdout + 1);
    int32_t day = t > 0 ? stockout_day(t) : cap;
    e.stockout_defined = true;
    e.stockout_forecast = day < cap ? day : cap;
  }
  return e;
}

}  // namespace whale::inventory
