#pragma once
// Helpers for the server tests: reading a Prometheus metric, and a `lowbit serve` process started
// on a free loopback port and stopped with SIGTERM when the test ends.
#include <sys/types.h>

#include <filesystem>
#include <string>

namespace lowbit::serve {

// The value of the sample line `name` (with its labels, as written) in Prometheus text; -1 when
// absent.
double metric_value(const std::string& text, const std::string& name);

class ServerProcess {
 public:
  // Starts `lowbit serve ARGS --port 0` and waits (up to 120 s) for its start-up line.
  explicit ServerProcess(const std::string& args);
  ~ServerProcess();  // SIGTERM, then waits for the exit
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  std::string url() const;
  // Sends SIGTERM and returns the exit status (as from waitpid; -1 when it had to be killed).
  int stop();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::filesystem::path log_;
};

// One HTTP request to 127.0.0.1:port with curl-free sockets (cpp-httplib's client).
struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
};
HttpReply http_post(int port, const std::string& path, const std::string& body);
HttpReply http_get(int port, const std::string& path);

}  // namespace lowbit::serve
