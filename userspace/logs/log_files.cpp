#include "logs/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

namespace mamori::logs {

namespace fs = std::filesystem;
namespace chr = std::chrono;
using common::Error;
using common::Result;
using common::Status;

namespace {

// Closes an fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status writeAll(int fd, const unsigned char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return common::errnoError("write " + path, errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

Status deflateFd(int in, int out, const std::string& in_path, const std::string& out_path) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper rather than zlib's own, so `zcat` reads it.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Error{ENOMEM, "deflateInit2 failed"};
  }
  std::vector<unsigned char> inbuf(64 * 1024), outbuf(64 * 1024);
  Status result;
  bool finished = false;
  while (!finished && result.ok()) {
    ssize_t r = ::read(in, inbuf.data(), inbuf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      result = common::errnoError("read " + in_path, errno);
      break;
    }
    int flush = r == 0 ? Z_FINISH : Z_NO_FLUSH;
    zs.next_in = inbuf.data();
    zs.avail_in = static_cast<uInt>(r);
    do {
      zs.next_out = outbuf.data();
      zs.avail_out = static_cast<uInt>(outbuf.size());
      int rc = deflate(&zs, flush);
      if (rc == Z_STREAM_ERROR) {
        result = Error{EIO, "deflate failed on " + in_path};
        break;
      }
      size_t have = outbuf.size() - zs.avail_out;
      result = writeAll(out, outbuf.data(), have, out_path);
      if (!result.ok()) break;
      if (rc == Z_STREAM_END) finished = true;
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  return result;
}

}  // namespace

bool validTenantId(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
    if (!ok) return false;
  }
  return true;
}

std::string dayFileName(LogType type, chr::year_month_day date, bool gz) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%04d-%02u-%02u.jsonl%s", std::string(logTypeName(type)).c_str(),
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), gz ? ".gz" : "");
  return buf;
}

std::optional<DayFile> parseDayFileName(LogType type, std::string_view name) {
  std::string_view stem = logTypeName(type);
  if (name.size() < stem.size() + 1 + 10 + 6 || name.substr(0, stem.size()) != stem ||
      name[stem.size()] != '-') {
    return std::nullopt;
  }
  std::string_view rest = name.substr(stem.size() + 1);
  std::string_view date = rest.substr(0, 10);
  std::string_view suffix = rest.substr(10);
  DayFile f;
  if (suffix == ".jsonl") {
    f.gz = false;
  } else if (suffix == ".jsonl.gz") {
    f.gz = true;
  } else {
    return std::nullopt;
  }
  int y = 0, m = 0, d = 0;
  for (size_t i : {4u, 7u}) {
    if (date[i] != '-') return std::nullopt;
  }
  auto num = [&](size_t from, size_t len, int* out) {
    int v = 0;
    for (size_t i = from; i < from + len; ++i) {
      if (date[i] < '0' || date[i] > '9') return false;
      v = v * 10 + (date[i] - '0');
    }
    *out = v;
    return true;
  };
  if (!num(0, 4, &y) || !num(5, 2, &m) || !num(8, 2, &d)) return std::nullopt;
  f.date = chr::year_month_day{chr::year(y), chr::month(static_cast<unsigned>(m)),
                               chr::day(static_cast<unsigned>(d))};
  if (!f.date.ok()) return std::nullopt;
  return f;
}

Result<std::vector<std::string>> listTenants(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec.value() == ENOENT) return out;
    return Error{ec.value(), "list " + dir + ": " + ec.message()};
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Error{ec.value(), "list " + dir + ": " + ec.message()};
    std::string name = it->path().filename().string();
    std::error_code sec;
    if (validTenantId(name) && it->is_directory(sec) && !it->is_symlink(sec)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<DayFile>> listDayFiles(const std::string& dir, const std::string& tenant,
                                          LogType type) {
  std::string type_dir = dir + "/" + tenant + "/" + std::string(logTypeName(type));
  std::map<int, DayFile> by_day;  // sys_days count → file
  std::error_code ec;
  fs::directory_iterator it(type_dir, ec);
  if (ec) {
    if (ec.value() == ENOENT) return std::vector<DayFile>{};
    return Error{ec.value(), "list " + type_dir + ": " + ec.message()};
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Error{ec.value(), "list " + type_dir + ": " + ec.message()};
    auto f = parseDayFileName(type, it->path().filename().string());
    if (!f) continue;
    f->path = it->path().string();
    int key = chr::sys_days(f->date).time_since_epoch().count();
    auto [pos, inserted] = by_day.emplace(key, *f);
    if (!inserted && f->gz) pos->second = *f;
  }
  std::vector<DayFile> out;
  out.reserve(by_day.size());
  for (auto& [k, f] : by_day) out.push_back(std::move(f));
  return out;
}

std::string parentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status fsyncDir(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return common::errnoError("open " + path, errno);
  if (::fsync(fd.get()) != 0) return common::errnoError("fsync " + path, errno);
  return {};
}

Status compressFile(const std::string& plain) {
  std::string gz = plain + ".gz";
  std::string tmp = gz + ".tmp";
  Fd in(::open(plain.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return common::errnoError("open " + plain, errno);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (out.get() < 0) return common::errnoError("open " + tmp, errno);
  Status st = deflateFd(in.get(), out.get(), plain, tmp);
  if (st.ok() && ::fsync(out.get()) != 0) st = common::errnoError("fsync " + tmp, errno);
  if (st.ok()) {
    int fd = out.release();
    if (::close(fd) != 0) st = common::errnoError("close " + tmp, errno);
  }
  if (st.ok() && ::rename(tmp.c_str(), gz.c_str()) != 0) st = common::errnoError("rename " + tmp, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename must be durable before the only other copy goes away.
  Status dst = fsyncDir(parentDir(plain));
  if (!dst.ok()) return dst;
  if (::unlink(plain.c_str()) != 0) return common::errnoError("unlink " + plain, errno);
  return {};
}

Status forEachLine(const std::string& path, const std::function<bool(std::string_view, bool)>& visit) {
  // gzread reads plain files as they are (gzdirect), so one loop serves both.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::errnoError("open " + path, errno);
  gzFile f = gzdopen(fd, "rb");
  if (f == nullptr) {
    ::close(fd);
    return Error{ENOMEM, "gzdopen " + path};
  }
  gzbuffer(f, 128 * 1024);
  std::string pending;
  std::vector<char> buf(64 * 1024);
  Status result;
  bool stopped = false;
  for (;;) {
    int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      result = Error{EIO, "read " + path + ": " + (msg ? msg : "gzip error")};
      break;
    }
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      size_t nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) {
        pending.append(chunk.substr(start));
        break;
      }
      bool go;
      if (pending.empty()) {
        go = visit(chunk.substr(start, nl - start), true);
      } else {
        pending.append(chunk.substr(start, nl - start));
        go = visit(pending, true);
        pending.clear();
      }
      start = nl + 1;
      if (!go) {
        stopped = true;
        break;
      }
    }
    if (stopped) break;
  }
  gzclose(f);
  if (!stopped && !pending.empty()) visit(pending, false);
  return result;
}

Result<uint64_t> removeTree(const std::string& path) {
  std::error_code ec;
  auto n = fs::remove_all(path, ec);
  if (ec) return Error{ec.value(), "remove " + path + ": " + ec.message()};
  return static_cast<uint64_t>(n);
}

}  // namespace mamori::logs
