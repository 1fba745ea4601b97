#pragma once

// Result<T>: a value or an Error, shaped like C++23 std::expected so that a
// later switch is mechanical (STYLE.md §4). Used on the data plane and the
// control plane alike; nothing here throws.

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace mamori::common {

// What failed and why. `code` is an errno value where an OS or libbpf call
// failed (0 otherwise); `message` names the call site and the cause.
struct Error {
  int code = 0;
  std::string message;
};

// Builds an Error from an errno-style code: "<where>: <strerror(code)>".
inline Error errnoError(const std::string& where, int code) {
  return Error{code, where + ": " + std::strerror(code < 0 ? -code : code)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}       // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}   // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace mamori::common
