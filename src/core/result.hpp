// Result<T, E>: a value or an error, for the data path where exceptions must not cross
// a session (STYLE.md §8). E defaults to Error, a human-readable message.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tern {

// A failure described for a log line or an operator.
struct Error {
  std::string message;
};

template <class E>
struct Unexpected {
  E error;
};

template <class E>
Unexpected<std::decay_t<E>> fail(E&& e) {
  return {std::forward<E>(e)};
}
inline Unexpected<Error> fail(std::string message) { return {Error{std::move(message)}}; }
inline Unexpected<Error> fail(const char* message) { return {Error{message}}; }

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class E2>
  Result(Unexpected<E2> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const { return std::get<1>(v_); }
  E& error() { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Result<void>: success or an error.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class E2>
  Result(Unexpected<E2> e) : e_(std::move(e.error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return e_; }

 private:
  E e_{};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace tern
