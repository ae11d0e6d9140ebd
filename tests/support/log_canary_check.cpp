// log-canary-check FILE...: exit 1 and name each marker found in the files.
// Shell-driven integration tests pass it what they captured.
#include <fstream>
#include <iostream>
#include <sstream>

#include "tests/support/LogCanary.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: log-canary-check FILE...\n";
    return 2;
  }
  int leaks = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::cerr << "log-canary-check: cannot read " << argv[i] << "\n";
      return 2;
    }
    std::ostringstream text;
    text << in.rdbuf();
    for (const auto& form : rpm::test::LogCanary::findLeaks(text.str())) {
      std::cerr << "log-canary-check: " << argv[i] << " contains the planted marker '" << form << "'\n";
      ++leaks;
    }
  }
  return leaks == 0 ? 0 : 1;
}
