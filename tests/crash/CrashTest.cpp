// Crash test (reliability-and-security.md §6 F1): a child appends bursts and
// prints each id once append() returned; the parent SIGKILLs it at random
// points and restarts it. Every printed id must be stored exactly once and
// the database must pass integrity_check. RPM_BUFFER_LONG=1 runs 2000
// iterations instead of 200.
#include <catch2/catch.hpp>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "tests/unit/buffer/BufferFixtures.h"

extern char** environ;

namespace {

struct Kill {
  std::vector<std::string> printed;
  bool exitedEarly = false;
};

// Runs the child until it has printed `lines` ids, then SIGKILLs it.
Kill runAndKill(const std::string& db, int run, int lines, bool planted) {
  Kill k;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string runText = std::to_string(run);
  std::vector<char*> argv = {const_cast<char*>(RPM_CRASH_CHILD), const_cast<char*>(db.c_str()),
                             const_cast<char*>(runText.c_str())};
  if (planted) argv.push_back(const_cast<char*>("--print-before-commit-for-test"));
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, RPM_CRASH_CHILD, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string buffer;
  int complete = 0;
  while (complete < lines) {
    pollfd p{fds[0], POLLIN, 0};
    int ready = ::poll(&p, 1, 20000);  // bound: a healthy child prints within milliseconds
    REQUIRE(ready == 1);
    char chunk[4096];
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) {
      k.exitedEarly = true;
      break;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t pos;
    while ((pos = buffer.find('\n')) != std::string::npos) {
      k.printed.push_back(buffer.substr(0, pos));
      buffer.erase(0, pos + 1);
      ++complete;
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  return k;
}

std::map<std::string, int> storedIds(const std::string& db) {
  std::map<std::string, int> ids;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT id FROM readings", -1, &s, nullptr) == SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) ids[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] += 1;
  sqlite3_finalize(s);
  sqlite3_close_v2(h);
  return ids;
}

struct Verdict {
  int missing = 0;
  int duplicated = 0;
  int notOk = 0;
};

void check(const std::string& db, const std::vector<std::string>& ids, Verdict& v) {
  auto stored = storedIds(db);
  for (const auto& id : ids) {
    auto it = stored.find(id);
    if (it == stored.end()) {
      v.missing += 1;
    } else if (it->second != 1) {
      v.duplicated += 1;
    }
  }
}

Verdict crashLoop(int iterations, bool planted, bool stopAtFirstLoss) {
  rpm::test::TempDir dir;
  std::string db = dir.file("buffer.db");
  std::mt19937 rng(planted ? 7 : 11);
  std::vector<std::string> printed;
  Verdict v;
  for (int i = 0; i < iterations; ++i) {
    Kill k = runAndKill(db, i, static_cast<int>(rng() % 150) + 1, planted);
    REQUIRE_FALSE(k.exitedEarly);
    printed.insert(printed.end(), k.printed.begin(), k.printed.end());
    if (rpm::test::sqlOnFile(db, "PRAGMA integrity_check") != "ok") v.notOk += 1;
    // Every id printed so far is re-checked after each of the first 200
    // kills, then after every 50th (keeps long runs near linear), and at the end.
    if (i < 200 || i % 50 == 0) check(db, printed, v);
    if (stopAtFirstLoss && v.missing > 0) break;
    if (!planted && (v.missing || v.duplicated || v.notOk)) break;
  }
  if (!stopAtFirstLoss) check(db, printed, v);
  return v;
}

int iterations() {
  const char* env = std::getenv("RPM_BUFFER_LONG");
  return env && std::string(env) == "1" ? 2000 : 200;
}

}  // namespace

TEST_CASE("Readings acknowledged before a SIGKILL are stored exactly once", "[crash][buffer]") {
  Verdict v = crashLoop(iterations(), false, false);
  CHECK(v.missing == 0);
  CHECK(v.duplicated == 0);
  CHECK(v.notOk == 0);
}

TEST_CASE("The crash harness catches ids printed before their commit", "[crash][buffer]") {
  Verdict v = crashLoop(200, true, true);
  CHECK(v.missing > 0);
}
