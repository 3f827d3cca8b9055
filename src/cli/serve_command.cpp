// lowbit serve: the OpenAI-compatible server (src/serve/). SIGINT/SIGTERM stop it gracefully:
// the engine ends running requests (their clients get an error event or a 503), then the HTTP
// server closes.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "serve/batch_engine.h"
#include "serve/chat_prompt.h"
#include "serve/http_server.h"

namespace lowbit::cli {
namespace {

struct ServeFlags {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 4;
  int ctx = 0;
  int max_tokens = 0;
  int max_queue = 64;
  double timeout = 600;
  size_t max_body = 1 << 20;
  std::string alias;
  std::string chat_template;
  uint64_t seed = 0;
};

// SIGINT/SIGTERM write one byte to this pipe and the watcher thread reads it. A handler rather
// than sigwait: threads started before serve runs (the worker pool) would take a signal they do
// not block with its default action; write() is async-signal-safe.
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int sig) {
  const char c = static_cast<char>(sig);
  [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &c, 1);
}

void install_stop_handler() {
  if (pipe(g_stop_pipe) != 0) throw Error("serve: cannot create the signal pipe");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Blocks until a stop signal (returns it) or a 0 byte written by the server's own shutdown.
int wait_for_stop() {
  char c = 0;
  while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return c;
}

void run_serve(const ServeFlags& f) {
  install_stop_handler();
  LoadedModel m = load_from_flags(f.model);
  const std::string model_path = f.model.model.empty() ? bundled_model() : f.model.model;
  serve::Metrics metrics;
  serve::EngineOptions eo;
  eo.parallel = f.parallel;
  eo.context = f.ctx;
  eo.max_queue = f.max_queue;
  eo.stop_ids = m.stop_ids;
  serve::BatchEngine engine(*m.model, *m.tokenizer, eo, metrics);

  serve::ApiContext api;
  api.tokenizer = m.tokenizer.get();
  api.context = engine.context();
  api.max_tokens = f.max_tokens > 0 ? std::min(f.max_tokens, engine.context()) : engine.context();
  api.timeout_s = f.timeout;
  api.default_seed = f.seed;
  const auto chat = serve::load_chat_prompt(m.tokenizer_config, m.tokenizer_config_source,
                                            f.chat_template, *m.tokenizer);
  api.chat_prompt = [chat](const nlohmann::json& messages) { return chat->ids(messages); };

  serve::ServerOptions so;
  so.host = f.host;
  so.port = f.port;
  so.model_name =
      !f.alias.empty() ? f.alias : std::filesystem::path(model_path).filename().string();
  so.max_body_bytes = f.max_body;
  so.http_threads = f.parallel + f.max_queue + 4;
  serve::HttpServer server(engine, metrics, api, so);
  const int port = server.bind();

  std::thread watcher([&] {
    const int sig = wait_for_stop();
    if (sig != 0)
      fmt::print(stderr, "lowbit serve: stopping ({})\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    engine.stop();
    // Let the open requests write their last event before the sockets close.
    if (sig != 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server.stop();
  });
  fmt::print(stderr, "lowbit serve: {} on http://{}:{} ({} slots, context {}, chat: {})\n",
             so.model_name, f.host, port, engine.parallel(), engine.context(), chat->describe());
  std::fflush(stderr);
  server.listen();
  // listen() also returns when the socket fails: wake the watcher so it can be joined.
  const char zero = 0;
  [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &zero, 1);
  watcher.join();
}

}  // namespace

void register_serve(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server with continuous batching (docs/serve.md)");
  add_model_flags(*cmd, flags->model, /*bundled_default=*/true);
  cmd->add_option("--host", flags->host, "address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", flags->port, "port (default 8080; 0 = any free port, printed)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", flags->parallel,
                  "sequences decoded together in one batched step (default 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--ctx", flags->ctx,
                  "KV cache positions per sequence (default: the model's maximum)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-tokens", flags->max_tokens,
                  "largest max_tokens a request may ask for (default: the context)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-queue", flags->max_queue,
                  "requests waiting for a slot beyond which the server answers 429 (default 64)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--timeout", flags->timeout, "seconds a request may take (default 600)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-body", flags->max_body, "largest request body in bytes (default 1 MiB)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd->add_option("--alias", flags->alias, "model name in responses (default: the file name)");
  cmd->add_option("--chat-template", flags->chat_template,
                  "Jinja chat template file (default: tokenizer_config.json's chat_template)");
  cmd->add_option("--seed", flags->seed, "seed of requests without one (default: random)");
  cmd->callback([flags] { run_serve(*flags); });
}

}  // namespace lowbit::cli
