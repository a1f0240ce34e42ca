// The libunbound context driven by an Asio io_context (internal to dns/). Questions are
// handed to libunbound on a strand of the resolver's io_context; libunbound resolves them
// on its own worker thread (threaded mode, ub_ctx_async(ctx, 1): no forked process, and
// nothing ever blocks the io_context) and writes answers to a pipe whose read end, ub_fd(),
// the strand watches and drains with ub_process(). Each request of one or more questions
// has a deadline; an unanswered question is then cancelled and answered Status::temporary.
// The completion runs on the executor of whoever asked (posted, never inline).
//
// Trusts: its Options (checked at create); nothing from the network is read here beyond
// libunbound's result flags: rdata is handed on as bytes for records.cpp to check.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "dns/records.hpp"
#include "dns/resolver.hpp"

struct ub_ctx;
struct ub_result;

namespace tern::dns {

using RawAnswers = std::vector<RawAnswer>;

// Where a request's answers go: type-erases the move-only Asio completion handler.
class Completion {
 public:
  virtual ~Completion() = default;
  // Hands `answers` to the handler on its associated executor (posted, never inline).
  virtual void complete(RawAnswers answers) = 0;
};

template <class Handler>
class HandlerCompletion final : public Completion {
 public:
  using Executor =
      boost::asio::associated_executor_t<Handler, boost::asio::io_context::executor_type>;

  HandlerCompletion(Handler handler, boost::asio::io_context::executor_type fallback)
      : work_(boost::asio::get_associated_executor(handler, fallback)),
        handler_(std::move(handler)) {}

  void complete(RawAnswers answers) override {
    Executor ex = work_.get_executor();
    // The work guard travels with the handler: the asker's io_context keeps running until
    // the answer is delivered.
    boost::asio::post(ex, [h = std::move(handler_), a = std::move(answers),
                           w = std::move(work_)]() mutable { std::move(h)(std::move(a)); });
  }

 private:
  boost::asio::executor_work_guard<Executor> work_;
  Handler handler_;
};

class Driver : public std::enable_shared_from_this<Driver> {
 public:
  // Sets up a libunbound context from `options` (see resolver.hpp for what each means).
  static Result<std::shared_ptr<Driver>> create(boost::asio::io_context& ioc,
                                                const Options& options);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Asks for `name` once per type in `types` (class IN); completes with one RawAnswer per
  // type, in the same order. Callable from any thread. Signature: void(RawAnswers).
  template <class Token>
  auto async_lookup(std::string name, std::vector<int> types, Token&& token) {
    return boost::asio::async_initiate<Token, void(RawAnswers)>(
        [self = shared_from_this()](auto handler, std::string name, std::vector<int> types) {
          using H = std::decay_t<decltype(handler)>;
          auto done =
              std::make_unique<HandlerCompletion<H>>(std::move(handler), self->ioc_.get_executor());
          self->start(std::move(name), std::move(types), std::move(done));
        },
        token, std::move(name), std::move(types));
  }

  // Answers every question in flight Status::temporary and refuses new ones; posted to the
  // strand. Called by the Resolver's destructor.
  void close();

 private:
  struct Request;
  struct Query;

  Driver(boost::asio::io_context& ioc, ub_ctx* ctx, std::chrono::milliseconds timeout);

  void start(std::string name, std::vector<int> types, std::unique_ptr<Completion> done);
  // The rest runs on the strand.
  void begin(const std::string& name, const std::vector<int>& types,
             std::unique_ptr<Completion> done);
  void watch();
  void pump();
  void expire(std::uint64_t request_id);
  void finish(std::uint64_t request_id);
  // Answers every open request Status::temporary `why`; libunbound is not read after it.
  void shutdown_requests(const std::string& why);
  void shutdown();
  static void on_answer(void* query, int err, ub_result* result);
  void answered(Query* query, int err, ub_result* result);

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  ub_ctx* ctx_;
  boost::asio::posix::stream_descriptor fd_;  // ub_fd(ctx_), released (not closed) at the end
  std::chrono::milliseconds timeout_;
  bool watching_ = false;
  bool closed_ = false;
  std::string broken_;  // why the answer pipe cannot be read any more, once it cannot
  std::uint64_t next_request_ = 1;
  std::map<std::uint64_t, std::unique_ptr<Request>> requests_;
  std::map<int, std::unique_ptr<Query>> queries_;  // by libunbound's async_id
};

}  // namespace tern::dns
