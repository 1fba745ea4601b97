#pragma once

// Reads the raw-request corpus written by ftw_to_raw.py (one record per
// go-ftw stage: "#stage id\tclass\tkind\tpl\tbytes\n" then the request
// bytes and a newline) and turns one request's bytes into what inspection
// takes, the way the engine would: the strict RequestParser, then
// http::parseBody on the Content-Type. Bench-only code, single-threaded.

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/body_parser.h"
#include "http/types.h"

namespace mamori::bench {

struct Stage {
  std::string id;     // "942100-1" or "920100-3.2" (test.stage)
  std::string cls;    // rule file, e.g. REQUEST-942-APPLICATION-ATTACK-SQLI
  std::string kind;   // attack | benign | skip | error
  int pl = 0;         // paranoia level of the rule under test; 0 unknown
  std::string bytes;  // the request exactly as ftw_run.py sends it
};

// Loads every record of `path`. Fails (EINVAL) naming the byte offset of
// the first malformed record, or with errno when the file cannot be read.
common::Result<std::vector<Stage>> loadCorpus(const std::string& path);

// What the engine makes of one request's bytes.
enum class Parsed {
  Ok,          // a whole request: inspect it
  Rejected,    // the strict parser refused it: the engine answers 4xx/5xx
  Incomplete,  // bytes end inside the request: the client would time out
};

struct ParsedRequest {
  Parsed status = Parsed::Incomplete;
  int reject_status = 0;  // HTTP status answered for Rejected
  std::string reject_reason;
  http::Request request;
  http::ParsedBody body;
};

// Parses `bytes` with default RequestLimits and, when that gives a
// request, its body by Content-Type with default BodyLimits.
ParsedRequest parseRequest(const std::string& bytes);

}  // namespace mamori::bench

namespace mamori::bench {

// A fixed, realistic 4 KiB request (browser-like headers, cookies and a
// urlencoded form body; total exactly 4096 bytes), the size the
// inspection-latency goal is stated for. Same bytes on every call.
std::string fourKibRequest();

// This thread's CPU time in microseconds. On a shared machine the wall
// clock also counts the time other processes held the core; CPU time does
// not, so it is the steadier figure when the machine is busy.
double threadCpuMicros();

// Nearest-rank percentile `p` (0..100) of `sorted` (ascending, non-empty).
double percentile(const std::vector<double>& sorted, double p);

}  // namespace mamori::bench
