#pragma once
// What a template can call: filters (`x | trim`), tests (`x is defined`), the methods and
// attributes of strings, lists and dicts (`s.strip()`, `d.items()`, `l.length`), and the global
// functions (namespace, range, raise_exception, strftime_now). The set and each one's behaviour
// are the reference renderer's (@huggingface/jinja); docs/chat-templates.md lists them.
#include <chrono>
#include <string>

#include "text/jinja_value.h"

namespace lowbit::jinja {

// `operand | name` (args null) or `operand | name(args)`. Throws Failure for an unknown filter or
// one that does not apply to the operand's kind.
Value apply_filter(const std::string& name, const Value& operand, const CallArgs* args);
// `operand is name`; `arg` is the second operand where selectattr passes one.
bool apply_test(const std::string& name, const Value& operand, const Value& arg);
// `object.key` / `object[key]`: entries of dicts, items of lists and strings (negative indices
// count from the end), then methods and `length`. Undefined when there is none.
Value member(const Value& object, const Value& key);
// The global names every template sees (true/false/none in both cases, namespace, range,
// raise_exception, strftime_now with `now` as the current time, in UTC).
Object global_names(std::chrono::system_clock::time_point now);

// Counts work (limits::kMaxChatTemplateWork) for builtins that loop: set by the interpreter.
void charge_work(int64_t units);

}  // namespace lowbit::jinja
