// Pins left by an older map ABI: Shield::open and purgePins remove the
// <pin_root>/v<N> directories of other ABIs, with real pinned maps on bpffs,
// and leave every other name under the pin root alone.

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shield/shield.h"
#include "shield_abi.h"

namespace mamori::testing {
namespace {

namespace fs = std::filesystem;

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

bool isSymlink(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Removes `root` and everything under it when the test ends, passed or not,
// so no pin, map or directory outlives the test.
class TreeGuard {
 public:
  explicit TreeGuard(std::string root) : root_(std::move(root)) {}
  ~TreeGuard() {
    std::error_code ec;
    fs::remove_all(root_, ec);
    if (ec) ADD_FAILURE() << "cleanup of " << root_ << ": " << ec.message();
  }
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;

 private:
  std::string root_;
};

// A pin root of its own on bpffs, with helpers to lay out what an older
// mamori would have left there.
class StalePinsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF) to pin maps and load XDP";
    root_ = "/sys/fs/bpf/mamori-stale-test-" + std::to_string(getpid());
    ASSERT_FALSE(exists(root_)) << root_ << " is left over from another run";
    guard_ = std::make_unique<TreeGuard>(root_);
    mkdir(root_);
  }

  void TearDown() override {
    shield_.reset();  // its maps' fds close before the guard removes the pins
    guard_.reset();
  }

  void mkdir(const std::string& path) {
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path << ": " << strerror(errno);
  }

  // Creates a small hash map, pins it at `path` and returns the map's id
  // (0 after a failed assertion). The pin holds the only reference.
  uint32_t pinMap(const std::string& path) {
    const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "old_map", 4, 8, 16, nullptr);
    EXPECT_GE(fd, 0) << "bpf_map_create: " << strerror(errno);
    if (fd < 0) return 0;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0) << strerror(errno);
    const int pinned = bpf_obj_pin(fd, path.c_str());
    const int pin_errno = errno;
    close(fd);
    EXPECT_EQ(pinned, 0) << "bpf_obj_pin " << path << ": " << strerror(pin_errno);
    return pinned == 0 ? info.id : 0;
  }

  // True once no map with `id` exists. The kernel drops a map whose last
  // pin was unlinked after an RCU grace period, so this waits up to 2 s.
  static bool mapGone(uint32_t id) {
    for (int i = 0; i < 200; ++i) {
      const int fd = bpf_map_get_fd_by_id(id);
      if (fd < 0 && errno == ENOENT) return true;
      if (fd >= 0) close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Loads the shield on the test's pin root; skips where the kernel
  // refuses BPF, as the other shield tests do.
  void load() {
    shield::Options options;
    options.pin_root = root_;
    options.max_sources = 4096;
    options.max_bans = 1024;
    auto loaded = shield::Shield::open(options);
    if (!loaded) {
      if (loaded.error().code == EPERM || loaded.error().code == ENOSYS)
        GTEST_SKIP() << "kernel refused BPF: " << loaded.error().message;
      FAIL() << loaded.error().message;
    }
    shield_ = std::move(loaded.value());
  }

  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  std::string current(const std::string& rel) const {
    return root_ + "/" + SHIELD_PIN_ABI + "/" + rel;
  }

  std::string root_;
  std::unique_ptr<TreeGuard> guard_;
  std::unique_ptr<shield::Shield> shield_;
};

TEST_F(StalePinsTest, LoadRemovesOlderAbiDirsAndFreesTheirMaps) {
  mkdir(path("v1"));
  mkdir(path("v2"));
  const uint32_t v1_bans = pinMap(path("v1/bans_v4"));
  const uint32_t v2_rate = pinMap(path("v2/rate_src"));
  const uint32_t v2_bans = pinMap(path("v2/bans_v4"));
  ASSERT_TRUE(v1_bans && v2_rate && v2_bans);

  ::testing::internal::CaptureStderr();
  load();
  const std::string log = ::testing::internal::GetCapturedStderr();
  if (!shield_) return;  // skipped or failed in load()

  EXPECT_FALSE(exists(path("v1")));
  EXPECT_FALSE(exists(path("v2")));
  EXPECT_TRUE(mapGone(v1_bans));
  EXPECT_TRUE(mapGone(v2_rate));
  EXPECT_TRUE(mapGone(v2_bans));
  for (const char* name : {"shield_cfg", "bans_v4", "bans_v6", "rate_src", "events"})
    EXPECT_TRUE(exists(current(name))) << current(name);
  EXPECT_TRUE(shield::PinnedMaps::open(root_).ok());

  const auto& stale = shield_->staleAbiDirs();
  ASSERT_EQ(stale.size(), 2u);
  EXPECT_EQ(stale[0].path, path("v1"));
  EXPECT_EQ(stale[0].pins_removed, 1);
  EXPECT_EQ(stale[1].path, path("v2"));
  EXPECT_EQ(stale[1].pins_removed, 2);
  for (const auto& d : stale) {
    EXPECT_TRUE(d.removed) << d.path;
    EXPECT_TRUE(d.failures.empty()) << d.path;
  }
  EXPECT_NE(log.find("removed 2 pins of map ABI v2 from " + path("v2")), std::string::npos) << log;
  EXPECT_NE(log.find("removed 1 pin of map ABI v1 from " + path("v1")), std::string::npos) << log;
  EXPECT_NE(log.find("bans are not carried over"), std::string::npos) << log;
}

TEST_F(StalePinsTest, LeavesEveryOtherNameUnderTheRootAlone) {
  mkdir(path("keep-me"));
  const uint32_t kept = pinMap(path("keep-me/bans_v4"));
  ASSERT_NE(kept, 0u);
  // Near misses of "v<digits>", and a symlink that has the name but is not
  // a directory of ours: none may go.
  for (const char* name : {"v", "V2", "v2-old", "v2x", "vx2", "version"}) mkdir(path(name));
  ASSERT_EQ(symlink("keep-me", path("v9").c_str()), 0) << strerror(errno);

  load();
  if (!shield_) return;

  EXPECT_TRUE(shield_->staleAbiDirs().empty());
  for (const char* name : {"keep-me", "v", "V2", "v2-old", "v2x", "vx2", "version"})
    EXPECT_TRUE(exists(path(name))) << name;
  EXPECT_TRUE(isSymlink(path("v9")));
  const int fd = bpf_obj_get(path("keep-me/bans_v4").c_str());
  EXPECT_GE(fd, 0) << "the map kept under keep-me: " << strerror(errno);
  if (fd >= 0) close(fd);
  EXPECT_TRUE(exists(current("bans_v4")));
}

TEST_F(StalePinsTest, KeepsTheCurrentAbiPinsAndTheirBans) {
  load();
  if (!shield_) return;
  auto maps = shield::PinnedMaps::open(root_);
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  auto source = common::parseIpPrefix("198.51.100.7");
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE(maps->addBan(*source, std::chrono::seconds(600), shield::BanReason::Manual).ok());
  shield_.reset();  // as a mamorid restart after an upgrade

  mkdir(path("v2"));
  ASSERT_NE(pinMap(path("v2/bans_v4")), 0u);
  load();
  if (!shield_) return;

  EXPECT_FALSE(exists(path("v2")));
  auto reopened = shield::PinnedMaps::open(root_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  auto bans = reopened->listBans();
  ASSERT_TRUE(bans.ok()) << bans.error().message;
  ASSERT_EQ(bans->size(), 1u);
  EXPECT_EQ((*bans)[0].source, *source);
}

TEST_F(StalePinsTest, ReportsWhatItCannotRemoveAndStillLoads) {
  // A subdirectory is not a pin: it stays, and so does its parent.
  mkdir(path("v10"));
  mkdir(path("v10/nested"));
  const uint32_t id = pinMap(path("v10/bans_v4"));
  ASSERT_NE(id, 0u);

  ::testing::internal::CaptureStderr();
  load();
  const std::string log = ::testing::internal::GetCapturedStderr();
  if (!shield_) return;

  EXPECT_TRUE(mapGone(id));
  EXPECT_TRUE(exists(path("v10/nested")));
  EXPECT_TRUE(exists(current("bans_v4")));
  const auto& stale = shield_->staleAbiDirs();
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].pins_removed, 1);
  EXPECT_FALSE(stale[0].removed);
  ASSERT_EQ(stale[0].failures.size(), 2u);
  EXPECT_EQ(stale[0].failures[0].code, EISDIR);
  EXPECT_NE(stale[0].failures[0].message.find(path("v10/nested")), std::string::npos);
  EXPECT_EQ(stale[0].failures[1].code, ENOTEMPTY);
  EXPECT_NE(stale[0].failures[1].message.find(path("v10")), std::string::npos);
  EXPECT_NE(log.find("warning: unlink " + path("v10/nested")), std::string::npos) << log;
  EXPECT_NE(log.find("(errno " + std::to_string(EISDIR) + ")"), std::string::npos) << log;
}

TEST_F(StalePinsTest, FollowsASymlinkedPinRoot) {
  // An operator may point the pin root at another directory on bpffs.
  const std::string link = root_ + "-link";
  ASSERT_FALSE(exists(link));
  TreeGuard link_guard(link);  // removes the symlink only, not its target
  ASSERT_EQ(symlink(root_.c_str(), link.c_str()), 0) << strerror(errno);
  mkdir(path("v2"));
  const uint32_t id = pinMap(path("v2/bans_v4"));
  ASSERT_NE(id, 0u);

  auto found = shield::removeStaleAbiPins(link);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].path, link + "/v2");
  EXPECT_TRUE((*found)[0].removed);
  EXPECT_FALSE(exists(path("v2")));
  EXPECT_TRUE(mapGone(id));
}

TEST_F(StalePinsTest, PurgeRemovesOlderAbiDirsToo) {
  load();
  if (!shield_) return;
  shield_.reset();
  mkdir(path("v2"));
  const uint32_t id = pinMap(path("v2/rate_src"));
  ASSERT_NE(id, 0u);
  mkdir(path("keep-me"));

  auto purged = shield::purgePins(root_);
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_FALSE(exists(path(SHIELD_PIN_ABI)));
  EXPECT_FALSE(exists(path("v2")));
  EXPECT_TRUE(mapGone(id));
  EXPECT_TRUE(exists(path("keep-me")));  // not ours, so the root stays too

  ASSERT_EQ(rmdir(path("keep-me").c_str()), 0) << strerror(errno);
  purged = shield::purgePins(root_);
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_FALSE(exists(root_));
}

// Neither of these needs root: no BPF object is touched.

TEST(StaleAbiPins, AbsentRootIsNothingToRemove) {
  auto found = shield::removeStaleAbiPins("/nonexistent/mamori-" + std::to_string(getpid()));
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_TRUE(found->empty());
}

TEST(StaleAbiPins, LeavesADirectoryOffBpffsAlone) {
  // A pin root mistakenly set to an ordinary directory: a "v2" there holds
  // someone's files, not pins, and nothing in it is unlinked.
  std::string tmpl = (fs::temp_directory_path() / "mamori-stale-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << strerror(errno);
  TreeGuard guard(tmpl);
  fs::create_directories(tmpl + "/v2");
  std::FILE* notes = std::fopen((tmpl + "/v2/notes").c_str(), "w");
  ASSERT_NE(notes, nullptr) << strerror(errno);
  std::fclose(notes);

  auto found = shield::removeStaleAbiPins(tmpl);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].pins_removed, 0);
  EXPECT_FALSE((*found)[0].removed);
  ASSERT_EQ((*found)[0].failures.size(), 1u);
  EXPECT_EQ((*found)[0].failures[0].code, ENOTSUP);
  EXPECT_TRUE(exists(tmpl + "/v2/notes"));
  EXPECT_FALSE(shield::purgePins(tmpl).ok());
  EXPECT_TRUE(exists(tmpl + "/v2/notes"));
}

}  // namespace
}  // namespace mamori::testing
