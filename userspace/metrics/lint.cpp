#include "metrics/lint.h"

#include <algorithm>
#include <set>

namespace mamori::metrics {

namespace {

bool validName(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string labelNames(const Sample& s) {
  std::vector<std::string> names;
  for (const auto& l : s.labels) names.push_back(l.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += n + ",";
  return out;
}

std::string labelSet(const Sample& s) {
  auto labels = s.labels;
  std::sort(labels.begin(), labels.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
  std::string out;
  for (const auto& l : labels) out += l.name + "=" + l.value + ",";
  return out;
}

}  // namespace

std::vector<std::string> lintFamilies(const std::vector<Family>& families) {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  const auto& forbidden = forbiddenLabels();
  for (const auto& f : families) {
    const std::string& n = f.name;
    auto bad = [&](const std::string& what) { problems.push_back(n + ": " + what); };
    if (!validName(n)) bad("name is not [a-z_][a-z0-9_]*");
    if (n.rfind("mamori_", 0) != 0) bad("name does not start with mamori_");
    if (!seen.insert(n).second) bad("family appears twice");
    if (f.type == MetricType::Counter && !endsWith(n, "_total")) bad("counter without _total");
    if (f.type != MetricType::Counter && endsWith(n, "_total")) bad("_total on a non-counter");
    if (f.help.empty()) bad("no help text");
    std::set<std::string> sets;
    std::string names;
    for (std::size_t i = 0; i < f.samples.size(); ++i) {
      const auto& s = f.samples[i];
      std::set<std::string> in_series;
      for (const auto& l : s.labels) {
        if (!validName(l.name)) bad("label '" + l.name + "' is not [a-z_][a-z0-9_]*");
        if (l.name.rfind("__", 0) == 0) bad("label '" + l.name + "' is reserved");
        if (l.name == "le" || l.name == "quantile") bad("label '" + l.name + "' is reserved");
        if (std::find(forbidden.begin(), forbidden.end(), l.name) != forbidden.end())
          bad("label '" + l.name + "' is unbounded or personal data");
        if (!in_series.insert(l.name).second) bad("label '" + l.name + "' twice in one series");
      }
      if (!sets.insert(labelSet(s)).second) bad("two series with labels {" + labelSet(s) + "}");
      if (i == 0) {
        names = labelNames(s);
      } else if (labelNames(s) != names) {
        bad("series differ in label names ({" + names + "} vs {" + labelNames(s) + "})");
      }
    }
  }
  return problems;
}

}  // namespace mamori::metrics
