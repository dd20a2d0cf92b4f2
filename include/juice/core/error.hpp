// juice/core/error.hpp
//
// The library's exception types. juice never calls exit() and never prints: every failure is an
// exception whose message is a full sentence naming what was wrong and where (file and line, field,
// or algorithm step), so a caller can show it to a user unchanged.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace juice {

// Base of every exception thrown by juice.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// An argument or option outside its documented domain (negative beta, empty batch, ...).
class invalid_argument : public error {
public:
  using error::error;
};

// A numerical failure during an algorithm: a NaN/Inf loss or gradient, a solver that did not converge.
class numerical_error : public error {
public:
  using error::error;
};

// A number as a person writes it in a message: "-1", "0.9", "1e-08" (std::to_string prints
// "-1.000000").
inline std::string to_text(double value) {
  std::ostringstream out;
  out.precision(10);
  out << value;
  return out.str();
}

}  // namespace juice
