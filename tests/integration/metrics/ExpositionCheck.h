// A strict reader of Prometheus text exposition format 0.0.4, written from
// the format's description independently of the renderer it checks.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace rpm::metrics::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::vector<Sample> samples;
};

// Problems, one per line; empty when the text is well formed: every sample
// belongs to a family declared by TYPE before it, a family's samples are
// contiguous, labels and values parse, histogram buckets are cumulative
// and end with le="+Inf" equal to _count.
std::vector<std::string> checkExposition(const std::string& text, Exposition* out = nullptr);

}  // namespace rpm::metrics::test
