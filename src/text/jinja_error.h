#pragma once
// Errors of the chat-template engine (text/jinja_*). Every failure, from a malformed template to
// a limit, is a TemplateError (a lowbit::Error) whose message names the template and the line.
// TemplateRaised is the template's own refusal (`raise_exception(msg)`, e.g. "Conversation roles
// must alternate"): the input, not the template, is wrong, so the server answers it with HTTP 400.
#include <string>

#include "core/error.h"

namespace lowbit::jinja {

class TemplateError : public Error {
 public:
  using Error::Error;
};

class TemplateRaised : public TemplateError {
 public:
  TemplateRaised(const std::string& what, std::string message)
      : TemplateError(what), message_(std::move(message)) {}
  // The template's own words, without the template name and line.
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// Thrown inside the engine where the template name and line are not at hand; the interpreter and
// parser turn it into a TemplateError that names both.
struct Failure {
  std::string message;
};
struct Raised {
  std::string message;
};

[[noreturn]] inline void fail_eval(std::string message) {
  throw Failure{std::move(message)};
}

}  // namespace lowbit::jinja
