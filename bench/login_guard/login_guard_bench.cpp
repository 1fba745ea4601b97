// Cost of the login-abuse detector per request: ns per
// beforeUpstream + afterResponse for the shapes the engine will see, so the
// "< 5% of proxy throughput" goal of issue #7 can be checked against the
// proxy's own per-request time. No root, no network: the guard is driven
// directly with prebuilt requests and the real steady clock.
//
// Scenarios:
//   page          GET of a non-login page (the common case: a route scan)
//   login_ok      form login that succeeds, one user, one address
//   fail_spread   failed form logins, 10,000 users x 100,000 addresses
//                 (every table updated, thresholds high so nothing trips)
//   fail_json     failed JSON logins with a JSON failure rule
//   spray_1m      failed logins from 1,000,000 addresses (table eviction)
//   refused       attempts from a blocked source (answered locally)
//   2 threads     fail_spread from two threads at once (ns per op, per thread)
//
// Usage: login_guard_bench [--iterations N] [--rounds N]
// Each scenario runs `rounds` rounds of `iterations` operations; the median
// round is printed.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "guard/login_guard.h"

using namespace mamori;
using namespace std::chrono_literals;

namespace {

struct NullSink : guard::BanSink {
  void ban(const common::IpPrefix&, std::chrono::seconds, guard::BanReason) override {}
};

http::Request formLogin(const std::string& user) {
  http::Request r;
  r.method = http::Method::Post;
  r.method_name = "POST";
  r.target = r.path = r.decoded_path = "/login";
  r.headers = {{"Host", "shop.example"},
               {"User-Agent", "bench"},
               {"Content-Type", "application/x-www-form-urlencoded"}};
  r.body = "username=" + user + "&password=correct-horse-battery&remember=1";
  return r;
}

http::Request jsonLogin(const std::string& user) {
  http::Request r = formLogin(user);
  r.target = r.path = r.decoded_path = "/api/login";
  r.headers.back().value = "application/json";
  r.body = R"({"username":")" + user + R"(","password":"correct-horse-battery"})";
  return r;
}

http::Request page() {
  http::Request r;
  r.method = http::Method::Get;
  r.method_name = "GET";
  r.target = r.path = r.decoded_path = "/products/42";
  r.headers = {{"Host", "shop.example"}, {"User-Agent", "bench"}};
  return r;
}

common::IpPrefix v4(std::uint32_t n) {
  common::IpPrefix p;
  p.prefix_len = 32;
  p.bytes[0] = static_cast<std::uint8_t>(10 + (n >> 24) % 100);
  p.bytes[1] = static_cast<std::uint8_t>(n >> 16);
  p.bytes[2] = static_cast<std::uint8_t>(n >> 8);
  p.bytes[3] = static_cast<std::uint8_t>(n);
  return p;
}

guard::SiteGuardConfig site(bool quiet) {
  guard::SiteGuardConfig s;
  s.site = "shop";
  s.routes = {guard::presetRoute(guard::Preset::GenericForm401),
              guard::presetRoute(guard::Preset::JsonApiOkFalse, "/api/login")};
  if (quiet) {
    // Thresholds out of reach: measures counting, not the ladder.
    for (auto* l : {&s.limits.failures_per_ip, &s.limits.failures_per_user,
                    &s.limits.failures_per_user_ip, &s.limits.distinct_users_per_ip,
                    &s.limits.distinct_ips_per_user, &s.limits.failures_per_v4_24,
                    &s.limits.failures_per_v6_64})
      l->threshold = 60000;
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class Fn>
double measure(int rounds, long iterations, Fn&& op) {
  std::vector<double> ns;
  long i = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (long k = 0; k < iterations; ++k, ++i) op(i);
    const auto end = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(end - start).count() /
                 static_cast<double>(iterations));
  }
  return median(ns);
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 200000;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N] [--rounds N]\n", argv[0]);
      return 2;
    }
  }
  if (iterations <= 0 || rounds <= 0) {
    std::fprintf(stderr, "login_guard_bench: --iterations and --rounds must be positive\n");
    return 2;
  }

  guard::SteadyClock clock;
  NullSink sink;
  auto make = [&](bool quiet) {
    auto g = guard::LoginGuard::create({site(quiet)}, clock, &sink);
    if (!g.ok()) {
      std::fprintf(stderr, "login_guard_bench: %s\n", g.error().message.c_str());
      std::exit(1);
    }
    return std::move(*g);
  };

  // Prebuilt requests so the loop measures the guard, not string building.
  std::vector<http::Request> forms, jsons;
  for (int u = 0; u < 10000; ++u) {
    forms.push_back(formLogin("user" + std::to_string(u) + "@example.com"));
    jsons.push_back(jsonLogin("user" + std::to_string(u) + "@example.com"));
  }
  const http::Request get = page();
  const std::vector<http::Header> fail_headers = {{"Content-Type", "text/html"}};
  const std::vector<http::Header> ok_headers = {{"Location", "/account"}};
  const std::string json_fail = R"({"ok":false,"error":"invalid credentials"})";

  std::printf("%-14s %10s\n", "scenario", "ns/op");
  auto report = [](const char* name, double ns) { std::printf("%-14s %10.1f\n", name, ns); };

  {
    auto g = make(true);
    report("page", measure(rounds, iterations, [&](long i) {
             auto pre = g->beforeUpstream(0, get, v4(static_cast<std::uint32_t>(i % 100000)));
             (void)g->afterResponse(pre, 200, ok_headers, "");
           }));
  }
  {
    auto g = make(true);
    report("login_ok", measure(rounds, iterations, [&](long) {
             auto pre = g->beforeUpstream(0, forms[0], v4(1));
             (void)g->afterResponse(pre, 302, ok_headers, "");
           }));
  }
  {
    auto g = make(true);
    report("fail_spread", measure(rounds, iterations, [&](long i) {
             auto pre = g->beforeUpstream(0, forms[static_cast<std::size_t>(i % 10000)],
                                          v4(static_cast<std::uint32_t>((i * 7919) % 100000)));
             (void)g->afterResponse(pre, 401, fail_headers, "<html>bad password</html>");
           }));
  }
  {
    auto g = make(true);
    report("fail_json", measure(rounds, iterations, [&](long i) {
             auto pre = g->beforeUpstream(0, jsons[static_cast<std::size_t>(i % 10000)],
                                          v4(static_cast<std::uint32_t>((i * 7919) % 100000)));
             (void)g->afterResponse(pre, 200, fail_headers, json_fail);
           }));
  }
  {
    auto g = make(true);
    report("spray_1m", measure(rounds, iterations, [&](long i) {
             auto pre = g->beforeUpstream(0, forms[static_cast<std::size_t>(i % 10000)],
                                          v4(static_cast<std::uint32_t>(i % 1000000)));
             (void)g->afterResponse(pre, 401, fail_headers, "");
           }));
  }
  {
    auto g = make(false);
    // Block 10.0.0.1 with the default ladder first.
    for (int k = 0; k < 40; ++k) {
      auto pre = g->beforeUpstream(0, forms[0], v4(1));
      if (!pre.answerLocally()) (void)g->afterResponse(pre, 401, fail_headers, "");
    }
    report("refused", measure(rounds, iterations, [&](long) {
             auto pre = g->beforeUpstream(0, forms[0], v4(1));
             if (!pre.answerLocally()) std::abort();  // the scenario is broken
           }));
  }
  {
    auto g = make(true);
    std::vector<double> per_thread(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        per_thread[static_cast<std::size_t>(t)] =
            measure(rounds, iterations, [&](long i) {
              const long j = i * 2 + t;
              auto pre = g->beforeUpstream(0, forms[static_cast<std::size_t>(j % 10000)],
                                           v4(static_cast<std::uint32_t>((j * 7919) % 100000)));
              (void)g->afterResponse(pre, 401, fail_headers, "");
            });
      });
    }
    for (auto& th : threads) th.join();
    report("2 threads", (per_thread[0] + per_thread[1]) / 2);
  }
  std::printf("tables: %.1f MiB per site with default sizes\n",
              static_cast<double>(make(true)->memoryBytes()) / (1024.0 * 1024.0));
  return 0;
}
