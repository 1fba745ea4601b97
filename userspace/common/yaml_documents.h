#pragma once

// Counting the documents of a YAML text without YAML::LoadAll, for the two
// yaml-cpp readers (config/loader.cpp, inspect/rule_loader.cpp). Header
// only, so common/ itself does not link yaml-cpp; includers do.
//
// Why not LoadAll: on some malformed input (`!binar,y "AAAA"`, found by the
// rule loader fuzzer) yaml-cpp 0.7's parser reports a new document forever
// and LoadAll grows until memory runs out; a bounded loop cannot.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <string>

namespace mamori::common {

// Sees only document boundaries; everything else is ignored.
class YamlDocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++count_ == 2) second_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  int count() const { return count_; }
  const YAML::Mark& second() const { return second_; }

 private:
  int count_ = 0;
  YAML::Mark second_;
};

// Counts the documents in `text`, stopping at 2; `second` gets where the
// second one starts. Throws what yaml-cpp throws (callers already catch
// YAML::Exception at their wrapper).
inline int countYamlDocuments(const std::string& text, YAML::Mark* second) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  YamlDocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  *second = counter.second();
  return counter.count();
}

}  // namespace mamori::common
