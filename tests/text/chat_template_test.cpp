// The chat-template engine construct by construct (the oracle test covers whole real templates),
// its errors (template name and line), limits, and tokenizer_config.json handling.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "testing/fixtures.h"
#include "text/chat_template.h"

namespace lowbit {
namespace {

using ojson = nlohmann::ordered_json;

std::string render(const std::string& source, const ojson& extra = ojson::object(),
                   const ojson& messages = ojson::array()) {
  ChatRenderOptions o;
  o.extra = extra;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  return ChatTemplate(source, "t.jinja").render(messages, o);
}

std::string error_of(const std::string& source, const ojson& extra = ojson::object()) {
  return testing::error_of([&] { render(source, extra); });
}

TEST(Jinja, OutputsLiteralsAndVariables) {
  EXPECT_EQ(render("a{{ 'b' }}{{ \"c\" }}{{ 1 }}{{ 2.5 }}{{ 3.0 }}{{ x }}", {{"x", "y"}}),
            "abc12.53.0y");
  EXPECT_EQ(render("{{ true }} {{ none }}|{{ undefined_name }}|"), "true ||");
  EXPECT_EQ(render("{{ bos_token }}{{ eos_token }}"), "<s></s>");
  EXPECT_EQ(render("{{ [1, 'a', none] }} {{ {'k': 1} }}"), "[1, \"a\", null] {\"k\": 1}");
}

TEST(Jinja, IfElifElse) {
  const std::string t = "{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %}";
  EXPECT_EQ(render(t, {{"x", 1}}), "one");
  EXPECT_EQ(render(t, {{"x", 2}}), "two");
  EXPECT_EQ(render(t, {{"x", 3}}), "many");
  EXPECT_EQ(render("{% if not x %}empty{% endif %}", {{"x", ojson::array()}}), "empty");
}

TEST(Jinja, ForLoopVariables) {
  EXPECT_EQ(
      render("{% for i in xs %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}"
             "{{ loop.length }};{% endfor %}",
             {{"xs", {"a", "b"}}}),
      "01truefalse2;12falsetrue2;");
  EXPECT_EQ(
      render("{% for x in xs if x > 1 %}{{ x }}{% else %}none{% endfor %}", {{"xs", {1, 2, 3}}}),
      "23");
  EXPECT_EQ(render("{% for x in [] %}{{ x }}{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
                   {{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1,a=2,");
  EXPECT_EQ(render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}"
                   "{% break %}{% endif %}{{ x }}{% endfor %}"),
            "13");
}

TEST(Jinja, SetScopesAndNamespaces) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% set ns = namespace(x=1) %}{% for i in [1] %}{% set ns.x = 2 %}{% endfor "
                   "%}{{ ns.x }}"),
            "2");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set block %}in {{ 1 }}{% endset %}[{{ block }}]"), "[in 1]");
}

TEST(Jinja, WhitespaceControlAndComments) {
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a  {{- 'x' -}}  c"), "axc");
  EXPECT_EQ(render("a {#- note -#} b{# gone #}"), "ab");
  // trim_blocks and lstrip_blocks, as transformers configures Jinja; one final newline dropped.
  EXPECT_EQ(render("{% if true %}\n  x\n    {% endif %}\ny\n"), "  x\ny");
}

TEST(Jinja, OperatorsAndSlicing) {
  EXPECT_EQ(
      render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ -3 + 1 }}"),
      "7 3 1 3.5 8 -2");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ 'b' }} {{ 'a' + 'b' }} {{ 'x' in 'xyz' }} {{ 2 not in [1] }}"),
            "a1b ab true true");
  EXPECT_EQ(render("{{ 'k' in d }} {{ 1 < 2 and 2 >= 3 }} {{ 0 or 'z' }}", {{"d", {{"k", 1}}}}),
            "true false z");
  EXPECT_EQ(render("{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[-1] }} {{ 'hello'[1:3] }}",
                   {{"xs", {1, 2, 3}}}),
            "[2, 3] [1, 2] [3, 2, 1] 3 el");
  EXPECT_EQ(render("{{ 'yes' if x else 'no' }}", {{"x", false}}), "no");
}

TEST(Jinja, FiltersTestsAndMethods) {
  EXPECT_EQ(render("{{ '  a b  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ xs | length }}|"
                   "{{ xs | join(', ') }}|{{ missing | default('d') }}|{{ 'x' | default('d') }}",
                   {{"xs", {"p", "q"}}}),
            "a b|AB|ab|2|p, q|d|x");
  EXPECT_EQ(render("{{ d | tojson }}|{{ d | tojson(indent=2) }}",
                   {{"d", {{"b", {1, 2}}, {"a", "\xC3\xA9\n"}}}}),
            "{\"b\": [1, 2], \"a\": \"\xC3\xA9\\n\"}|{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": "
            "\"\xC3\xA9\\n\"\n}");
  EXPECT_EQ(
      render(
          "{{ x is defined }}{{ y is defined }}{{ n is none }}{{ 's' is string }}{{ 1 is number }}"
          "{{ d is mapping }}{{ xs is iterable }}{{ x is not none }}",
          {{"x", 1}, {"n", nullptr}, {"d", ojson::object()}, {"xs", ojson::array()}}),
      "truefalsetruetruetruetruetruetrue");
  EXPECT_EQ(
      render("{{ ' a '.strip() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|"
             "{{ 'a,b'.split(',') }}|{{ 'a b'.split() }}|{{ 'aXa'.replace('a', 'b') }}|{{ "
             "'ab'.title() }}"),
      "a|true|true|[\"a\", \"b\"]|[\"a\", \"b\"]|bXb|Ab");
  EXPECT_EQ(render("{{ d.get('k') }}{{ d.get('z', 'no') }}{{ d.keys() | list | length }}",
                   {{"d", {{"k", 1}}}}),
            "1no1");
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | list | length }}",
                   {{"ms", {{{"role", "user"}}, {{"role", "assistant"}}, {{"role", "user"}}}}}),
            "2");
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') | length }}"), "11");
}

TEST(Jinja, RaiseExceptionIsATemplateRaisedNamingTheLine) {
  const std::string t =
      "line one\n{% if true %}\n{{ raise_exception('roles must alternate') }}\n{% endif %}";
  try {
    render(t);
    FAIL() << "no exception";
  } catch (const jinja::TemplateRaised& e) {
    EXPECT_EQ(e.message(), "roles must alternate");
    EXPECT_NE(std::string(e.what()).find("t.jinja line 3"), std::string::npos) << e.what();
  }
}

TEST(Jinja, MalformedTemplatesAreErrorsWithLines) {
  struct Bad {
    const char* source;
    const char* expect;
  };
  const Bad bad[] = {
      {"ok\n{% if x %}never closed", "line 2"},
      {"{{ 'unterminated }}", "line 1"},
      {"a\nb\n{{ 1 + }}", "line 3"},
      {"{% for in xs %}{% endfor %}", "line 1"},
      {"{% macro m() %}{% endmacro %}", "not supported"},
      {"{% frobnicate %}", "unknown statement"},
      {"{# never closed", "comment"},
      {"{{ x | nosuchfilter }}", "nosuchfilter"},
      {"{{ x is nosuchtest }}", "nosuchtest"},
      {"{{ 1 + none }}", "none"},
      {"{{ nosuchfunction() }}", "cannot call"},
      {"{{ 'a' ~ [1] }}", "concatenate"},
      {"{% set x.y = 1 %}", "namespace"},
      {"{{ 1 // 0 }}", "division by zero"},
      {"{{ 'a'.split('') }}", "empty separator"},
      {"{% break %}", "outside a loop"},
      {"{{ \"\\q\" }}", "escape"},
      {"}}{{", "t.jinja"},
      {"{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1 }}", "deeper"},
  };
  for (const Bad& b : bad) {
    const std::string e = error_of(b.source, {{"x", 1}});
    EXPECT_NE(e.find("chat template t.jinja"), std::string::npos) << b.source << " -> " << e;
    EXPECT_NE(e.find(b.expect), std::string::npos) << b.source << " -> " << e;
  }
}

TEST(Jinja, LimitsStopRunawayTemplates) {
  EXPECT_NE(error_of("{% for i in range(100000000) %}{% endfor %}").find("steps of work"),
            std::string::npos);
  EXPECT_NE(
      error_of("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
               "{% endfor %}")
          .find("bytes"),
      std::string::npos);
  const std::string big(limits::kMaxChatTemplateBytes + 1, 'x');
  EXPECT_NE(error_of(big).find("more than"), std::string::npos);
  // Long left-associative chains are as deep as they are long: refused, not a stack overflow.
  std::string chain = "{{ 1";
  for (int i = 0; i < 200000; ++i) chain += "+1";
  EXPECT_NE(error_of(chain + " }}").find("nested deeper"), std::string::npos);
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 100000; ++i) filters += "|trim";
  EXPECT_NE(error_of(filters + " }}").find("nested deeper"), std::string::npos);
  std::string members = "{{ d";
  for (int i = 0; i < 100000; ++i) members += ".a";
  EXPECT_NE(error_of(members + " }}").find("nested deeper"), std::string::npos);
  std::string short_chain = "{{ 1";
  for (int i = 0; i < 20; ++i) short_chain += "+1";
  EXPECT_EQ(render(short_chain + " }}"), "21");
  // A list nested 300,000 deep, built by the template, is freed without recursing.
  EXPECT_EQ(render("{% set ns = namespace(x=none) %}{% for i in range(300000) %}"
                   "{% set ns.x = [ns.x] %}{% endfor %}done"),
            "done");
  ojson deep = 1;
  for (int i = 0; i < 100; ++i) deep = ojson::array({deep});
  EXPECT_NE(error_of("{{ d | tojson }}", {{"d", deep}}).find("nested"), std::string::npos);
}

TEST(ChatTemplate, ReadsTokenizerConfigForms) {
  const ojson plain_string = {{"chat_template", "{{ bos_token }}{{ messages[0]['content'] }}"},
                              {"bos_token", "<s>"},
                              {"eos_token", {{"content", "</s>"}, {"lstrip", false}}}};
  const ChatTemplate a =
      ChatTemplate::from_tokenizer_config_json(plain_string, "tokenizer_config.json");
  EXPECT_EQ(a.config_bos_token(), "<s>");
  EXPECT_EQ(a.config_eos_token(), "</s>");
  EXPECT_EQ(a.name(), "tokenizer_config.json:chat_template");
  const ojson named = {{"chat_template",
                        {{{"name", "tool_use"}, {"template", "tools"}},
                         {{"name", "default"}, {"template", "dflt"}}}}};
  EXPECT_EQ(ChatTemplate::from_tokenizer_config_json(named, "c.json").render(ojson::array(), {}),
            "dflt");
  EXPECT_FALSE(ChatTemplate::config_has_template(ojson::object()));
  EXPECT_NE(testing::error_of([] {
              ChatTemplate::from_tokenizer_config_json(ojson::object(), "c.json");
            }).find("no chat_template"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              ChatTemplate::from_tokenizer_config_json(
                  {{"chat_template", {{{"name", "x"}, {"template", "y"}}}}}, "c.json");
            }).find("default"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              ChatTemplate::from_tokenizer_config_json({{"chat_template", 5}}, "c.json");
            }).find("c.json"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              ChatTemplate::from_tokenizer_config_json({{"chat_template", "x"}, {"bos_token", 3}},
                                                       "c.json");
            }).find("bos_token"),
            std::string::npos);
}

TEST(ChatTemplate, PlainFormat) {
  const ojson messages = ojson::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}])");
  ChatRenderOptions o;
  EXPECT_EQ(ChatTemplate::plain().render(messages, o),
            "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Bye\n\nAssistant:");
  o.add_generation_prompt = false;
  EXPECT_EQ(ChatTemplate::plain().render(ojson::parse(R"([{"role": "user", "content": "x"}])"), o),
            "User: x\n\n");
}

}  // namespace
}  // namespace lowbit
