#pragma once
// `lowbit serve`: an OpenAI-compatible HTTP server (cpp-httplib) in front of the BatchEngine.
//   POST /v1/completions, POST /v1/chat/completions (JSON or server-sent events with stream: true)
//   GET /v1/models, GET /health, GET /metrics (Prometheus text)
// Limits: request bodies over max_body_bytes -> 413, max_tokens over the cap or the context ->
// 400, a full queue -> 429, a stopping server -> 503, a request past its timeout -> 504 (or an
// error event in a stream). A client that disconnects mid-stream cancels its sequence, which frees
// its slot at the next step.
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "serve/batch_engine.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"

namespace lowbit::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed)
  std::string model_name;
  size_t max_body_bytes = 1 << 20;
  int http_threads = 0;  // 0: parallel + max_queue + 4 (each open request holds one)
};

class HttpServer {
 public:
  HttpServer(BatchEngine& engine, Metrics& metrics, ApiContext api, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (throws lowbit::Error naming host and port when it cannot); returns the port.
  int bind();
  // Serves until stop() (from any thread, e.g. a signal watcher).
  void listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit::serve
