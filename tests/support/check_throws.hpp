// check_throws_with<E>: the call must throw an E (juice::error by default) whose message contains a
// given phrase (the file, line, field or step it names). Passes only when both hold; reports the
// message, or that no E was thrown.
#pragma once

#include <string>

#include <boost/test/unit_test.hpp>

#include "juice/core/error.hpp"

namespace juice::test {

template <class E = juice::error, class F>
void check_throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos,
                        "message \"" << e.what() << "\" lacks \"" << needle << "\"");
    return;
  }
  BOOST_ERROR("nothing of the expected type thrown; expected a message with \"" << needle << "\"");
}

}  // namespace juice::test
