#pragma once

// What the yaml-cpp readers (config/loader.cpp, inspect/rule_loader.cpp)
// share: collected "FILE:LINE:COLUMN: message (hint)" diagnostics, "did
// you mean" hints, and the scalar readers that report type and range
// errors at the value's own position. Header only, so common/ itself does
// not link yaml-cpp; includers do (as common/yaml_documents.h).

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace mamori::common::yaml {

inline int oneBased(int zero_based) { return zero_based < 0 ? 1 : zero_based + 1; }

// "LINE:COLUMN", 1-based.
inline std::string position(const YAML::Mark& mark) {
  return std::to_string(oneBased(mark.line)) + ":" + std::to_string(oneBased(mark.column));
}

inline std::string squote(std::string_view text) { return "'" + std::string(text) + "'"; }

// Collects every problem found in one load, each pinned to a YAML node, and
// renders them as "FILE:LINE:COLUMN: message (hint)" lines in file order.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, const std::string& message, const std::string& hint = {}) {
    Entry e;
    e.line = oneBased(mark.line);
    e.column = oneBased(mark.column);
    e.text = file_ + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " +
             message + (hint.empty() ? "" : " (" + hint + ")");
    list_.push_back(std::move(e));
  }
  void add(const YAML::Node& at, const std::string& message, const std::string& hint = {}) {
    add(at.Mark(), message, hint);
  }

  bool empty() const { return list_.empty(); }
  std::size_t count() const { return list_.size(); }
  const std::string& file() const { return file_; }
  // "FILE:LINE:COLUMN" of `mark`.
  std::string where(const YAML::Mark& mark) const { return file_ + ":" + position(mark); }

  Error toError() {
    std::stable_sort(list_.begin(), list_.end(), [](const Entry& a, const Entry& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::string joined;
    for (const auto& e : list_) {
      if (!joined.empty()) joined += '\n';
      joined += e.text;
    }
    return Error{EINVAL, joined};
  }

 private:
  struct Entry {
    int line = 0;  // 1-based
    int column = 0;
    std::string text;
  };
  std::string file_;
  std::vector<Entry> list_;
};

// Optimal-string-alignment distance: Levenshtein plus adjacent swaps, so the
// common typo "tsl" for "tls" costs 1, not 2. Inputs are short keys.
inline std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate nearest to `word`, or "" when none is close enough to be a
// plausible typo (a third of the word's length, at least one edit). Words
// over 64 bytes are nobody's typo and are not compared.
inline std::string_view closestMatch(std::string_view word,
                                     const std::vector<std::string_view>& candidates) {
  if (word.size() > 64) return {};
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string_view best;
  std::size_t best_distance = limit + 1;
  for (auto candidate : candidates) {
    std::size_t distance = editDistance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

inline std::string joinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// How a node looks, for "expected X, got Y" messages.
inline std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar:
      // Echo a short value back; a pasted certificate need not be repeated.
      if (node.Scalar().size() > 64) return squote(node.Scalar().substr(0, 61) + "...");
      return squote(node.Scalar());
    default: return "nothing";
  }
}

inline void typeError(Diagnostics& diag, const YAML::Node& node, std::string_view expected,
                      std::string_view what) {
  diag.add(node, "expected " + std::string(expected) + " for " + squote(what) + ", got " +
                     describe(node));
}

inline std::optional<std::string> readString(Diagnostics& diag, const YAML::Node& node,
                                             std::string_view what, bool allow_empty = false) {
  if (!node.IsScalar()) {
    typeError(diag, node, "a string", what);
    return std::nullopt;
  }
  if (node.Scalar().empty() && !allow_empty) {
    diag.add(node, squote(what) + " is empty");
    return std::nullopt;
  }
  return node.Scalar();
}

inline std::optional<std::int64_t> readInteger(Diagnostics& diag, const YAML::Node& node,
                                               std::string_view what, std::int64_t min,
                                               std::int64_t max) {
  std::int64_t value = 0;
  bool parsed = false;
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    // from_chars takes no '+', no spaces and no hex, which is what we want:
    // "0x10" or "1e3" in a limit is more likely a mistake than intent.
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    parsed = ec == std::errc() && end == text.data() + text.size() && !text.empty();
    if (ec == std::errc::result_out_of_range) {
      diag.add(node, squote(what) + " out of range: " + text,
               "allowed " + std::to_string(min) + ".." + std::to_string(max));
      return std::nullopt;
    }
  }
  if (!parsed) {
    typeError(diag, node, "an integer", what);
    return std::nullopt;
  }
  if (value < min || value > max) {
    diag.add(node, squote(what) + " out of range: " + std::to_string(value),
             "allowed " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

// YAML 1.2 core booleans only. yaml-cpp would also take yes/no/on/off
// (YAML 1.1), but "no" as a country code or "off" as a mode reads too easily
// as a string; refusing them costs the operator one edit.
inline std::optional<bool> readBool(Diagnostics& diag, const YAML::Node& node,
                                    std::string_view what) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  typeError(diag, node, "true or false", what);
  return std::nullopt;
}

}  // namespace mamori::common::yaml
