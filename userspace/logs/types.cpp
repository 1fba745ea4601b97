#include "logs/types.h"

namespace mamori::logs {

std::string_view logTypeName(LogType type) {
  switch (type) {
    case LogType::Event: return "event";
    case LogType::Dos: return "dos";
    case LogType::Bot: return "bot";
    case LogType::Audit: return "audit";
  }
  return "event";
}

std::optional<LogType> parseLogType(std::string_view name) {
  for (LogType t : kAllLogTypes) {
    if (logTypeName(t) == name) return t;
  }
  return std::nullopt;
}

LogCountersSnapshot snapshotOf(const LogCounters& c) {
  LogCountersSnapshot s;
#define MAMORI_LOGS_COPY(name, help) s.name = c.name.load(std::memory_order_relaxed);
  MAMORI_LOGS_COUNTERS(MAMORI_LOGS_COPY)
#undef MAMORI_LOGS_COPY
  return s;
}

}  // namespace mamori::logs
