// The libunbound context driven by an Asio io_context: configuration, handing questions to
// libunbound on a strand, watching its answer pipe, deadlines. See driver.hpp.
// Trusts its Options; libunbound's results are read only for their flags and rcode here.
#include "dns/driver.hpp"

#include <unbound.h>

#include <boost/asio/error.hpp>
#include <optional>

namespace tern::dns {
namespace {

// DNS RCODEs (RFC 1035 §4.1.1, RFC 6895 §2.3) that libunbound passes on.
constexpr int rcode_noerror = 0;
constexpr int rcode_formerr = 1;
constexpr int rcode_servfail = 2;
constexpr int rcode_nxdomain = 3;
constexpr int rcode_notimp = 4;
constexpr int rcode_refused = 5;

// Why a configuration call failed, in the words an operator can act on.
Result<void> check(int rc, const std::string& what) {
  if (rc == 0) return {};
  return fail("dns: " + what + ": " + ub_strerror(rc));
}

std::string rcode_text(int rcode) {
  switch (rcode) {
    case rcode_formerr:
      return "the server could not read the query (FORMERR)";
    case rcode_servfail:
      return "server failure (SERVFAIL)";
    case rcode_notimp:
      return "the server does not implement the query (NOTIMP)";
    case rcode_refused:
      return "the server refused the query (REFUSED)";
    default:
      return "DNS error rcode " + std::to_string(rcode);
  }
}

// One question's outcome from libunbound's result: status by flags and rcode, rdata copied.
RawAnswer raw_answer(int err, const ub_result* r) {
  RawAnswer a;
  if (err != 0 || r == nullptr) {
    a.error = std::string("resolver error: ") + ub_strerror(err);
    return a;
  }
  a.secure = r->secure != 0;
  if (r->bogus != 0) {
    a.secure = false;
    a.error = std::string("DNSSEC validation failed: ") +
              (r->why_bogus != nullptr ? r->why_bogus : "the answer is bogus");
    return a;
  }
  if (r->nxdomain != 0 || r->rcode == rcode_nxdomain) {
    a.status = Status::nxdomain;
    return a;
  }
  if (r->rcode != rcode_noerror) {
    a.error = rcode_text(r->rcode);
    return a;
  }
  if (r->havedata == 0 || r->data == nullptr) {
    a.status = Status::nodata;
    return a;
  }
  a.status = Status::ok;
  for (std::size_t i = 0; r->data[i] != nullptr; ++i) {
    if (r->len[i] < 0) continue;  // libunbound never gives one; skipped rather than trusted
    a.rdata.emplace_back(r->data[i], static_cast<std::size_t>(r->len[i]));
  }
  return a;
}

RawAnswers failed(std::size_t n, const std::string& why) {
  RawAnswers answers(n);
  for (auto& a : answers) a.error = why;
  return answers;
}

}  // namespace

struct Driver::Request {
  explicit Request(boost::asio::strand<boost::asio::io_context::executor_type>& strand)
      : deadline(strand) {}
  RawAnswers answers;                    // one per question
  std::vector<std::optional<int>> open;  // the async_id of each question still unanswered
  std::size_t pending = 0;
  std::unique_ptr<Completion> done;
  boost::asio::steady_timer deadline;
};

// What libunbound's callback gets as its `mydata`: owned by queries_ until answered or
// cancelled, so it outlives every callback libunbound can still make.
struct Driver::Query {
  Driver* driver;
  std::uint64_t request;
  std::size_t index;
  int async_id = 0;
};

Result<std::shared_ptr<Driver>> Driver::create(boost::asio::io_context& ioc,
                                               const Options& options) {
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return fail("dns: the query timeout must be positive");
  }
  std::unique_ptr<ub_ctx, void (*)(ub_ctx*)> ctx(ub_ctx_create(), ub_ctx_delete);
  if (!ctx) return fail("dns: cannot create a libunbound context");
  // Threaded mode: a worker thread, not a forked process (see driver.hpp).
  if (auto st = check(ub_ctx_async(ctx.get(), 1), "threaded mode"); !st) return fail(st.error());

  // libunbound's library defaults already allow servers on 127.0.0.0/8 and ::1
  // (do-not-query-localhost: no), which a local resolver in resolv.conf (127.0.0.53, a
  // local unbound) and the tests' stub servers need.
  if (options.forwarders.empty() && options.stub_zones.empty()) {
    if (auto st = check(ub_ctx_resolvconf(ctx.get(), options.resolv_conf.c_str()),
                        "reading " + options.resolv_conf);
        !st) {
      return fail(st.error());
    }
  }
  for (const auto& f : options.forwarders) {
    if (auto st = check(ub_ctx_set_fwd(ctx.get(), f.c_str()), "forwarder " + f); !st) {
      return fail(st.error());
    }
  }
  for (const auto& [zone, servers] : options.stub_zones) {
    if (servers.empty()) return fail("dns: stub zone " + zone + " has no server");
    for (const auto& s : servers) {
      if (auto st = check(ub_ctx_set_stub(ctx.get(), zone.c_str(), s.c_str(), 0),
                          "stub zone " + zone + " server " + s);
          !st) {
        return fail(st.error());
      }
    }
  }
  if (!options.hosts_file.empty()) {
    if (auto st = check(ub_ctx_hosts(ctx.get(), options.hosts_file.c_str()),
                        "reading " + options.hosts_file);
        !st) {
      return fail(st.error());
    }
  }
  if (!options.trust_anchor_file.empty()) {
    if (auto st = check(ub_ctx_add_ta_file(ctx.get(), options.trust_anchor_file.c_str()),
                        "reading trust anchors " + options.trust_anchor_file);
        !st) {
      return fail(st.error());
    }
  }
  // A stub zone under one of libunbound's built-in local zones (RFC 6761 names such as
  // "test." and "invalid." answer NXDOMAIN locally) would never reach its server; a
  // transparent local zone of its own lets its questions through. This finalizes the
  // configuration, so it comes last.
  for (const auto& [zone, servers] : options.stub_zones) {
    if (auto st =
            check(ub_ctx_zone_add(ctx.get(), zone.c_str(), "transparent"), "stub zone " + zone);
        !st) {
      return fail(st.error());
    }
  }
  int fd = ub_fd(ctx.get());
  if (fd < 0) return fail("dns: libunbound has no answer descriptor");
  std::shared_ptr<Driver> driver(new Driver(ioc, ctx.release(), options.timeout));
  boost::system::error_code ec;
  driver->fd_.assign(fd, ec);
  if (ec) return fail("dns: watching libunbound's answer descriptor: " + ec.message());
  return driver;
}

Driver::Driver(boost::asio::io_context& ioc, ub_ctx* ctx, std::chrono::milliseconds timeout)
    : ioc_(ioc),
      strand_(boost::asio::make_strand(ioc)),
      ctx_(ctx),
      fd_(strand_),
      timeout_(timeout) {}

Driver::~Driver() {
  // The descriptor belongs to libunbound, which closes it.
  if (fd_.is_open()) fd_.release();
  // Questions still open here were never answered because the io_context stopped; their
  // handlers are destroyed unanswered, as Asio does with any operation of a stopped context.
  requests_.clear();
  ub_ctx_delete(ctx_);  // stops libunbound's worker thread; no callback is made after this
  queries_.clear();
}

void Driver::close() {
  boost::asio::post(strand_, [self = shared_from_this()] { self->shutdown(); });
}

void Driver::start(std::string name, std::vector<int> types, std::unique_ptr<Completion> done) {
  boost::asio::post(
      strand_, [self = shared_from_this(), name = std::move(name), types = std::move(types),
                done = std::move(done)]() mutable { self->begin(name, types, std::move(done)); });
}

void Driver::begin(const std::string& name, const std::vector<int>& types,
                   std::unique_ptr<Completion> done) {
  if (closed_) return done->complete(failed(types.size(), "the resolver is shut down"));
  if (!broken_.empty()) return done->complete(failed(types.size(), broken_));
  auto id = next_request_++;
  auto req = std::make_unique<Request>(strand_);
  req->answers.resize(types.size());
  req->open.resize(types.size());
  req->done = std::move(done);
  for (std::size_t i = 0; i < types.size(); ++i) {
    auto q = std::make_unique<Query>(Query{this, id, i});
    int rc = ub_resolve_async(ctx_, name.c_str(), types[i], rr_class_in, q.get(),
                              &Driver::on_answer, &q->async_id);
    if (rc != 0) {
      req->answers[i].error = std::string("resolver error: ") + ub_strerror(rc);
      continue;
    }
    req->open[i] = q->async_id;
    ++req->pending;
    queries_.emplace(q->async_id, std::move(q));
  }
  if (req->pending == 0) return req->done->complete(std::move(req->answers));
  req->deadline.expires_after(timeout_);
  req->deadline.async_wait([weak = weak_from_this(), id](const boost::system::error_code& ec) {
    if (ec) return;  // the request finished first
    if (auto self = weak.lock()) self->expire(id);
  });
  requests_.emplace(id, std::move(req));
  watch();
}

void Driver::watch() {
  if (watching_ || queries_.empty() || closed_ || !broken_.empty()) return;
  watching_ = true;
  fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                 [weak = weak_from_this()](const boost::system::error_code& ec) {
                   auto self = weak.lock();
                   if (!self) return;
                   self->watching_ = false;
                   if (ec == boost::asio::error::operation_aborted) return;
                   if (ec) {
                     self->broken_ = "watching libunbound's answers: " + ec.message();
                     return self->shutdown_requests(self->broken_);
                   }
                   self->pump();
                 });
  // An answer that arrived before the wait was registered gave its readiness edge to
  // nobody; ub_poll() looks at the pipe itself.
  if (ub_poll(ctx_) != 0) {
    boost::asio::post(strand_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->pump();
    });
  }
}

void Driver::pump() {
  if (closed_ || !broken_.empty()) return;
  if (int rc = ub_process(ctx_); rc != 0) {
    broken_ = std::string("reading libunbound's answers: ") + ub_strerror(rc);
    return shutdown_requests(broken_);
  }
  watch();
}

void Driver::on_answer(void* query, int err, ub_result* result) {
  auto* q = static_cast<Query*>(query);
  q->driver->answered(q, err, result);
}

void Driver::answered(Query* query, int err, ub_result* result) {
  std::unique_ptr<ub_result, void (*)(ub_result*)> owned(result, ub_resolve_free);
  auto node = queries_.extract(query->async_id);  // keeps *query alive to the end
  auto it = requests_.find(query->request);
  if (it == requests_.end()) return;  // the request expired while this answer was on its way
  auto& req = *it->second;
  if (!req.open[query->index]) return;
  req.open[query->index].reset();
  req.answers[query->index] = raw_answer(err, result);
  if (--req.pending == 0) finish(query->request);
}

void Driver::expire(std::uint64_t request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  auto& req = *it->second;
  for (std::size_t i = 0; i < req.open.size(); ++i) {
    if (!req.open[i]) continue;
    // After a successful cancel libunbound makes no callback; if the answer is already on
    // its way, the Query stays and answered() drops it.
    if (ub_cancel(ctx_, *req.open[i]) == 0) queries_.erase(*req.open[i]);
    req.open[i].reset();
    req.answers[i].status = Status::temporary;
    req.answers[i].error = "timeout: no answer within " + std::to_string(timeout_.count()) + " ms";
  }
  finish(request_id);
}

void Driver::finish(std::uint64_t request_id) {
  auto node = requests_.extract(request_id);
  if (node.empty()) return;
  auto& req = *node.mapped();
  req.deadline.cancel();
  req.done->complete(std::move(req.answers));
}

void Driver::shutdown_requests(const std::string& why) {
  for (auto& [id, q] : queries_) ub_cancel(ctx_, id);
  queries_.clear();
  auto requests = std::move(requests_);
  requests_.clear();
  for (auto& [id, req] : requests) {
    req->deadline.cancel();
    for (std::size_t i = 0; i < req->open.size(); ++i) {
      if (req->open[i]) req->answers[i].error = why;
    }
    req->done->complete(std::move(req->answers));
  }
}

void Driver::shutdown() {
  closed_ = true;
  shutdown_requests("the resolver is shut down");
  fd_.cancel();
}

}  // namespace tern::dns
