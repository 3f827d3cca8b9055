// Renders chat templates with @huggingface/jinja (the reference: what transformers.js uses) for
// tests/text/chat_template_oracle_test.cpp. Reads a JSON list of cases
//   {template: <source>, vars: {...}, now_ms: <optional fixed clock for strftime_now>}
// from argv[2] and writes a JSON list of {ok: true, output} or {ok: false, error} to argv[3].
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const RealDate = Date;
function withClock(nowMs, f) {
  if (nowMs === undefined || nowMs === null) return f();
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      super(...(args.length ? args : [nowMs]));
    }
  };
  try {
    return f();
  } finally {
    globalThis.Date = RealDate;
  }
}

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = cases.map((c) => {
  try {
    const output = withClock(c.now_ms, () => new Template(c.template).render(c.vars));
    return { ok: true, output };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
writeFileSync(process.argv[3], JSON.stringify(results));
