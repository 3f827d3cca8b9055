#include "serve/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "core/error.h"

namespace lowbit::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How long a streaming provider waits for the engine before checking the connection again.
constexpr std::chrono::milliseconds kPoll{200};

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type, const std::string& param = {}) {
  res.status = status;
  res.set_content(error_body(message, type, param), "application/json");
}

std::string request_id(bool chat) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:x}{:04x}", chat ? "chatcmpl" : "cmpl", rng() & 0xffffffffffff,
                     ++counter & 0xffff);
}

// The answer to a request that ended without a normal finish.
bool failed(const RequestState& state, httplib::Response& res, double timeout_s) {
  switch (state.reason()) {
    case FinishReason::kTimeout:
      send_error(res, 504, fmt::format("the request did not finish within {} s", timeout_s),
                 "timeout");
      return true;
    case FinishReason::kCancelled:
      send_error(res, 503, "the server is shutting down", "server_error");
      return true;
    case FinishReason::kError:
      send_error(res, 500, state.error(), "server_error");
      return true;
    default:
      return false;
  }
}

}  // namespace

struct HttpServer::Impl {
  BatchEngine& engine;
  Metrics& metrics;
  ApiContext api;
  ServerOptions options;
  httplib::Server server;
  int port = 0;

  Impl(BatchEngine& e, Metrics& m, ApiContext a, ServerOptions o)
      : engine(e), metrics(m), api(std::move(a)), options(std::move(o)) {}

  void generate(const httplib::Request& http, httplib::Response& res, bool chat) {
    const auto t0 = Clock::now();
    const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
    ParsedRequest req;
    try {
      req = parse_request(http.body, chat, api);
    } catch (const ApiError& e) {
      send_error(res, e.status, e.what(), e.type, e.param);
      metrics.request_done(endpoint, res.status, 0.0);
      return;
    } catch (const std::exception& e) {  // the tokenizer or chat template failed
      send_error(res, 400, e.what(), "invalid_request_error");
      metrics.request_done(endpoint, res.status, 0.0);
      return;
    }
    auto state = engine.submit(req.generation);
    if (!state) {
      metrics.rejected();
      if (engine.stopping())
        send_error(res, 503, "the server is shutting down", "server_error");
      else
        send_error(res, 429, "the server is at capacity: every slot is busy and the queue is full",
                   "rate_limit_error");
      metrics.request_done(endpoint, res.status, 0.0);
      return;
    }
    const ResponseInfo info{request_id(chat), options.model_name,
                            static_cast<int64_t>(std::time(nullptr))};
    if (!req.stream) {
      std::vector<TokenEvent> events;
      while (state->wait(events, kPoll)) {
      }
      if (!failed(*state, res, api.timeout_s)) {
        res.status = 200;  // httplib fills it in only after the handler; the metric needs it now
        res.set_content(dump(completion_response(req, info, events, *state)), "application/json");
      }
      metrics.request_done(endpoint, res.status,
                           std::chrono::duration<double>(Clock::now() - t0).count());
      return;
    }
    // Server-sent events: one chunk per batch of tokens the engine produced since the last one.
    struct Stream {
      bool first = true, done = false;
      size_t offset = 0;
    };
    auto stream = std::make_shared<Stream>();
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, req, info, state, stream](size_t, httplib::DataSink& sink) {
          const auto send = [&](const json& j) {
            const std::string line = "data: " + dump(j) + "\n\n";
            return sink.write(line.data(), line.size());
          };
          std::vector<TokenEvent> events;
          const bool more = state->wait(events, kPoll);
          if (!sink.is_writable()) return false;  // the client is gone: cancelled below
          if (!events.empty() || stream->first) {
            if (!send(stream_chunk(req, info, events, {}, nullptr, stream->first, stream->offset)))
              return false;
            stream->first = false;
          }
          if (more) return true;
          const FinishReason reason = state->reason();
          if (reason == FinishReason::kStop || reason == FinishReason::kLength) {
            if (!send(stream_chunk(req, info, {}, state->tail(), finish_reason_name(reason), false,
                                   stream->offset)))
              return false;
            if (req.include_usage && !send(usage_chunk(req, info, *state))) return false;
          } else {
            const std::string message =
                reason == FinishReason::kTimeout
                    ? fmt::format("the request did not finish within {} s", api.timeout_s)
                : reason == FinishReason::kError ? state->error()
                                                 : std::string("the server is shutting down");
            if (!send(json::parse(error_body(message, "server_error")))) return false;
          }
          const std::string done = "data: [DONE]\n\n";
          if (!sink.write(done.data(), done.size())) return false;
          stream->done = true;
          sink.done();
          return true;
        },
        [this, state, stream, endpoint, t0](bool success) {
          // A stream that ended early (client gone, write failed) frees its slot.
          if (!success || !stream->done) state->cancel();
          metrics.request_done(endpoint, success && stream->done ? 200 : 499,
                               std::chrono::duration<double>(Clock::now() - t0).count());
        });
  }

  void routes() {
    server.Post("/v1/completions",
                [this](const httplib::Request& q, httplib::Response& r) { generate(q, r, false); });
    server.Post("/v1/chat/completions",
                [this](const httplib::Request& q, httplib::Response& r) { generate(q, r, true); });
    server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) {
      const json models = {{"object", "list"},
                           {"data", json::array({{{"id", options.model_name},
                                                  {"object", "model"},
                                                  {"created", 0},
                                                  {"owned_by", "lowbit"}}})}};
      r.set_content(dump(models), "application/json");
      metrics.request_done("/v1/models", 200, 0.0);
    });
    server.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      if (engine.stopping()) {
        r.status = 503;
        r.set_content(R"({"status":"stopping"})", "application/json");
      } else {
        r.set_content(R"({"status":"ok"})", "application/json");
      }
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(metrics.render(engine.parallel()), "text/plain; version=0.0.4");
    });
    // Unknown paths and methods get OpenAI-style JSON errors too.
    server.set_error_handler([](const httplib::Request& q, httplib::Response& r) {
      if (!r.body.empty()) return;
      if (r.status == 404)
        send_error(r, 404, fmt::format("no route {} {}", q.method, q.path),
                   "invalid_request_error");
      else if (r.status == 413)
        send_error(r, 413, "the request body is too large", "invalid_request_error");
      else
        send_error(r, r.status, fmt::format("HTTP {}", r.status), "invalid_request_error");
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& r, std::exception_ptr ep) {
          std::string message = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            message = e.what();
          } catch (...) {
          }
          send_error(r, 500, message, "server_error");
        });
  }
};

HttpServer::HttpServer(BatchEngine& engine, Metrics& metrics, ApiContext api, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, metrics, std::move(api), std::move(options))) {
  auto& s = impl_->server;
  s.set_payload_max_length(impl_->options.max_body_bytes);
  s.set_read_timeout(30, 0);
  s.set_write_timeout(30, 0);
  s.set_keep_alive_timeout(5);
  const size_t threads =
      impl_->options.http_threads > 0
          ? static_cast<size_t>(impl_->options.http_threads)
          : static_cast<size_t>(engine.parallel()) + 68;  // parallel + default max_queue + 4
  // httplib's API hands over a raw pointer it owns and deletes.
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl_->routes();
}

HttpServer::~HttpServer() {
  stop();
}

int HttpServer::bind() {
  auto& o = impl_->options;
  if (o.port < 0 || o.port > 65535) fail("serve: --port {} outside 0..65535", o.port);
  if (o.port == 0) {
    impl_->port = impl_->server.bind_to_any_port(o.host);
    if (impl_->port < 0) fail("serve: cannot listen on {} (any port)", o.host);
  } else {
    if (!impl_->server.bind_to_port(o.host, o.port))
      fail("serve: cannot listen on {}:{} (address in use or not available)", o.host, o.port);
    impl_->port = o.port;
  }
  return impl_->port;
}

void HttpServer::listen() {
  impl_->server.listen_after_bind();
}

void HttpServer::stop() {
  if (impl_->server.is_running()) impl_->server.stop();
}

}  // namespace lowbit::serve
