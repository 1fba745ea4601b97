// modsec_throughput: the baseline for `throughput`, same requests through
// libmodsecurity3 + OWASP CRS (Debian's libmodsecurity-dev and
// modsecurity-crs) at paranoia 1 in blocking mode, on one thread, through
// the msc_* C API. Splitting a request into method, target, headers and
// body (our RequestParser) happens before the clock starts; the timed part
// is everything ModSecurity does for a request: a transaction, connection,
// URI, headers (phase 1), body (phase 2), the intervention check and
// cleanup. Engine settings are the usual production ones (request body
// access on, XML/JSON body processors, audit log off).
//
//   modsec_throughput --corpus FILE [--crs-setup F] [--crs-rules DIR]
//                     [--rounds N] [--repeat N]

// intervention.h uses NULL and free() without including their headers.
#include <cstddef>
#include <cstdlib>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "corpus.h"

// In C++ the msc_* C API is declared inside namespace modsecurity.
using modsecurity::ModSecurity;
using modsecurity::ModSecurityIntervention;
using modsecurity::RulesSet;
using modsecurity::Transaction;
using modsecurity::msc_add_n_request_header;
using modsecurity::msc_append_request_body;
using modsecurity::msc_cleanup;
using modsecurity::msc_create_rules_set;
using modsecurity::msc_init;
using modsecurity::msc_intervention;
using modsecurity::msc_new_transaction;
using modsecurity::msc_process_connection;
using modsecurity::msc_process_logging;
using modsecurity::msc_process_request_body;
using modsecurity::msc_process_request_headers;
using modsecurity::msc_process_uri;
using modsecurity::msc_rules_add_file;
using modsecurity::msc_rules_cleanup;
using modsecurity::msc_set_connector_info;
using modsecurity::msc_set_log_cb;
using modsecurity::msc_transaction_cleanup;
using modsecurity::msc_who_am_i;

namespace {

using Clock = std::chrono::steady_clock;

double microsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct Split {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

void noLog(void*, const void*) {}

// One request through ModSecurity; true when it intervened (blocked).
bool runOne(ModSecurity* ms, RulesSet* rules, const Split& r) {
  Transaction* t = msc_new_transaction(ms, rules, nullptr);
  bool blocked = false;
  auto check = [&]() {
    ModSecurityIntervention it{200, 0, nullptr, nullptr, 0};
    if (msc_intervention(t, &it) && it.disruptive) blocked = true;
    std::free(it.url);
    std::free(it.log);
    return blocked;
  };
  msc_process_connection(t, "192.0.2.10", 40000, "127.0.0.1", 8080);
  msc_process_uri(t, r.target.c_str(), r.method.c_str(), r.version.c_str());
  if (!check()) {
    for (const auto& [k, v] : r.headers) {
      msc_add_n_request_header(t, reinterpret_cast<const unsigned char*>(k.data()), k.size(),
                               reinterpret_cast<const unsigned char*>(v.data()), v.size());
    }
    msc_process_request_headers(t);
    if (!check()) {
      if (!r.body.empty()) {
        msc_append_request_body(t, reinterpret_cast<const unsigned char*>(r.body.data()),
                                r.body.size());
      }
      msc_process_request_body(t);
      check();
    }
  }
  msc_process_logging(t);
  msc_transaction_cleanup(t);
  return blocked;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus_path;
  std::string crs_setup = "/etc/modsecurity/crs/crs-setup.conf";
  std::string crs_rules = "/usr/share/modsecurity-crs/rules";
  int rounds = 3, repeat = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--corpus" && i + 1 < argc) {
      corpus_path = argv[++i];
    } else if (a == "--crs-setup" && i + 1 < argc) {
      crs_setup = argv[++i];
    } else if (a == "--crs-rules" && i + 1 < argc) {
      crs_rules = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else {
      corpus_path.clear();
      break;
    }
  }
  if (corpus_path.empty() || rounds < 1 || repeat < 1) {
    std::fprintf(stderr,
                 "usage: modsec_throughput --corpus FILE [--crs-setup F] [--crs-rules DIR] "
                 "[--rounds N] [--repeat N]\n");
    return 2;
  }

  // The engine configuration, written to a private temporary file so the
  // CRS Include directives resolve as they do in a server config.
  char conf_path[] = "/tmp/mamori-modsec-bench-XXXXXX.conf";
  int fd = mkstemps(conf_path, 5);
  if (fd < 0) {
    std::perror("modsec_throughput: mkstemps");
    return 1;
  }
  close(fd);
  {
    std::ofstream conf(conf_path);
    conf << "SecRuleEngine On\n"
            "SecRequestBodyAccess On\n"
            "SecRequestBodyLimit 13107200\n"
            "SecRequestBodyNoFilesLimit 131072\n"
            "SecRequestBodyLimitAction Reject\n"
            "SecPcreMatchLimit 1000\n"
            "SecPcreMatchLimitRecursion 1000\n"
            "SecResponseBodyAccess Off\n"
            "SecAuditEngine Off\n"
            "SecTmpDir /tmp/\n"
            "SecDataDir /tmp/\n"
            "SecArgumentSeparator &\n"
            "SecCookieFormat 0\n"
            "SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" "
            "\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
            "SecRule REQUEST_HEADERS:Content-Type \"^application/json\" "
            "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
            "SecRule REQBODY_ERROR \"!@eq 0\" "
            "\"id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'\"\n"
         << "Include " << crs_setup << "\n"
         << "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1\"\n"
         << "Include " << crs_rules << "/*.conf\n";
  }

  ModSecurity* ms = msc_init();
  msc_set_connector_info(ms, "mamori modsec_throughput");
  msc_set_log_cb(ms, noLog);
  RulesSet* rules = msc_create_rules_set();
  const char* error = nullptr;
  int loaded = msc_rules_add_file(rules, conf_path, &error);
  unlink(conf_path);
  if (loaded < 0) {
    std::fprintf(stderr, "modsec_throughput: loading CRS: %s\n", error ? error : "?");
    return 1;
  }

  auto corpus = mamori::bench::loadCorpus(corpus_path);
  if (!corpus) {
    std::fprintf(stderr, "modsec_throughput: %s\n", corpus.error().message.c_str());
    return 1;
  }
  auto split = [](const std::string& raw, Split* out) {
    mamori::bench::ParsedRequest p = mamori::bench::parseRequest(raw);
    if (p.status != mamori::bench::Parsed::Ok) return false;
    out->method = p.request.method_name;
    out->target = p.request.target;
    out->version = p.request.version == mamori::http::Version::Http10 ? "1.0" : "1.1";
    for (const auto& h : p.request.headers) out->headers.emplace_back(h.name, h.value);
    out->body = p.request.body;
    return true;
  };
  std::vector<Split> requests;
  std::size_t attacks = 0;
  for (const auto& s : *corpus) {
    if (s.kind != "attack" && s.kind != "benign") continue;
    Split r;
    if (!split(s.bytes, &r)) continue;
    requests.push_back(std::move(r));
    attacks += s.kind == "attack";
  }

  std::size_t blocked = 0;
  for (const auto& r : requests) blocked += runOne(ms, rules, r);  // warm-up
  std::vector<double> rates, cpu_rates, per_request;
  for (int round = 0; round < rounds; ++round) {
    auto start = Clock::now();
    double cpu_start = mamori::bench::threadCpuMicros();
    for (const auto& r : requests) {
      auto t = Clock::now();
      runOne(ms, rules, r);
      per_request.push_back(microsSince(t));
    }
    rates.push_back(static_cast<double>(requests.size()) / (microsSince(start) / 1e6));
    cpu_rates.push_back(static_cast<double>(requests.size()) /
                        ((mamori::bench::threadCpuMicros() - cpu_start) / 1e6));
  }
  std::sort(rates.begin(), rates.end());
  std::sort(cpu_rates.begin(), cpu_rates.end());
  std::sort(per_request.begin(), per_request.end());

  Split four_k;
  if (!split(mamori::bench::fourKibRequest(), &four_k)) {
    std::fprintf(stderr, "modsec_throughput: the 4 KiB request does not parse\n");
    return 1;
  }
  bool four_k_blocked = runOne(ms, rules, four_k);
  std::vector<double> lat, cpu_lat;
  for (int i = 0; i < repeat; ++i) {
    double c = mamori::bench::threadCpuMicros();
    auto t = Clock::now();
    runOne(ms, rules, four_k);
    lat.push_back(microsSince(t));
    cpu_lat.push_back(mamori::bench::threadCpuMicros() - c);
  }
  std::sort(lat.begin(), lat.end());
  std::sort(cpu_lat.begin(), cpu_lat.end());

  std::printf("engine: %s + OWASP CRS (%s), paranoia 1\n", msc_who_am_i(ms), crs_rules.c_str());
  std::printf("corpus: %zu requests (%zu attack, %zu benign); blocked %zu\n", requests.size(),
              attacks, requests.size() - attacks, blocked);
  std::printf("mixed corpus: %.0f requests/s per core (median of %d rounds; min %.0f, max %.0f)\n",
              mamori::bench::percentile(rates, 50), rounds, rates.front(), rates.back());
  std::printf("mixed corpus per request: p50 %.1f us, p99 %.1f us\n",
              mamori::bench::percentile(per_request, 50), mamori::bench::percentile(per_request, 99));
  std::printf("4 KiB request (%s): p50 %.1f us, p99 %.1f us, max %.1f us (%d runs)\n",
              four_k_blocked ? "blocked" : "passed", mamori::bench::percentile(lat, 50),
              mamori::bench::percentile(lat, 99), lat.back(), repeat);
  std::printf("thread CPU time: mixed corpus %.0f requests per CPU-second; 4 KiB request p50 %.1f us, "
              "p99 %.1f us\n",
              mamori::bench::percentile(cpu_rates, 50), mamori::bench::percentile(cpu_lat, 50),
              mamori::bench::percentile(cpu_lat, 99));
  std::printf("RESULT modsec rps=%.0f p99_4k_us=%.1f cpu_rps=%.0f cpu_p50_4k_us=%.1f "
              "cpu_p99_4k_us=%.1f p50_4k_us=%.1f\n",
              mamori::bench::percentile(rates, 50), mamori::bench::percentile(lat, 99),
              mamori::bench::percentile(cpu_rates, 50), mamori::bench::percentile(cpu_lat, 50),
              mamori::bench::percentile(cpu_lat, 99), mamori::bench::percentile(lat, 50));
  msc_rules_cleanup(rules);
  msc_cleanup(ms);
  return 0;
}
