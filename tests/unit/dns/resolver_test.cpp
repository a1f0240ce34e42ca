// The resolver against a real authoritative server (NSD on loopback, see nsd_server.hpp):
// MX preference order and the shuffle of equal preferences, implicit MX (NODATA), null MX
// (RFC 7505), NXDOMAIN, CNAME chains, a zone whose server never answers (temporary within
// the deadline), address families and their order, forwarders, /etc/hosts, awaiting from
// other io_contexts and threads, shutdown with questions in flight, bad configurations.
// The server's failure to start fails every test here with its log: it is never skipped.
#include "dns/resolver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "nsd_server.hpp"

namespace tern::dns {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The zones NSD serves. "test." is reserved for testing (RFC 6761 §6.2).
constexpr const char* dns_test_zone = R"($ORIGIN dns.test.
$TTL 300
@         IN SOA   ns hostmaster 1 3600 600 86400 300
@         IN NS    ns
ns        IN A     127.0.0.1
two       IN MX    20 mx2.two
two       IN MX    10 mx1.two
mx1.two   IN A     192.0.2.1
mx2.two   IN A     192.0.2.2
equal     IN MX    10 a.equal
equal     IN MX    10 b.equal
equal     IN MX    20 c.equal
implicit  IN A     192.0.2.10
implicit  IN AAAA  2001:db8::10
null      IN MX    0 .
multi     IN AAAA  2001:db8::41
multi     IN A     192.0.2.41
multi     IN AAAA  2001:db8::42
multi     IN A     192.0.2.42
v4only    IN A     192.0.2.20
v6only    IN AAAA  2001:db8::20
alias     IN CNAME alias2
alias2    IN CNAME target
target    IN MX    5 Mail.Target.dns.test.
target    IN A     192.0.2.30
target    IN AAAA  2001:db8::30
mxalias   IN MX    10 hostalias
hostalias IN CNAME hostalias2
hostalias2 IN CNAME target
dangling  IN CNAME nowhere
)";

// A second zone, outside "test." (which libunbound answers locally unless a stub says
// otherwise), for the forwarder test.
constexpr const char* tern_example_zone = R"($ORIGIN tern.example.
$TTL 300
@         IN SOA   ns hostmaster 1 3600 600 86400 300
@         IN NS    ns
ns        IN A     127.0.0.1
@         IN MX    10 mx
mx        IN A     192.0.2.50
)";

// Deadline of the questions here: a silent server is given up on after this.
constexpr auto test_timeout = 1500ms;
// How long a test waits for any one answer before it fails (well past test_timeout).
constexpr auto answer_bound = 10s;

class DnsResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = fixtures::NsdServer::start(
        {{"dns.test", dns_test_zone}, {"tern.example", tern_example_zone}});
    if (!s) {
      server_error_ = "the test DNS server (NSD) could not be started: " + s.error().message;
      return;
    }
    server_ = std::move(*s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    // A failure to start the server fails the test; it is never a skip.
    ASSERT_TRUE(server_) << server_error_;
    // A UDP socket that never reads: the server of "dead.test", which never answers.
    silent_.open(asio::ip::udp::v4());
    silent_.bind({asio::ip::address_v4::loopback(), 0});
    dns_thread_ = std::thread([this] { dns_ioc_.run(); });
  }

  void TearDown() override {
    resolver_.reset();  // answers what is still in flight, on dns_ioc_
    dns_work_.reset();
    if (dns_thread_.joinable()) dns_thread_.join();
  }

  Options test_options() {
    Options o;
    o.stub_zones["dns.test"] = {server_->address()};
    o.stub_zones["dead.test"] = {"127.0.0.1@" + std::to_string(silent_.local_endpoint().port())};
    o.hosts_file = "";
    o.timeout = test_timeout;
    return o;
  }

  Resolver& resolver() {
    if (!resolver_) {
      auto r = Resolver::create(dns_ioc_, test_options());
      EXPECT_TRUE(r) << (r ? "" : r.error().message);
      if (r) resolver_ = std::move(*r);
    }
    return *resolver_;
  }

  // Runs `a` on client_ioc_, an io_context of this thread, not the resolver's.
  template <class T>
  std::optional<T> await(asio::awaitable<T> a) {
    std::optional<T> out;
    asio::co_spawn(client_ioc_, std::move(a), [&](std::exception_ptr e, T v) {
      if (!e) out = std::move(v);
    });
    client_ioc_.restart();
    auto deadline = std::chrono::steady_clock::now() + answer_bound;
    while (!out && std::chrono::steady_clock::now() < deadline) client_ioc_.run_one_for(100ms);
    EXPECT_TRUE(out) << "no answer within " << answer_bound.count() << " s";
    return out;
  }

  MxAnswer mx(const std::string& domain) {
    return await(resolver().mx(domain)).value_or(MxAnswer{Status::temporary, {}, false, "none"});
  }
  AddressAnswer addresses(const std::string& host, Family f) {
    return await(resolver().addresses(host, f))
        .value_or(AddressAnswer{Status::temporary, {}, false, "none"});
  }

  static inline std::unique_ptr<fixtures::NsdServer> server_;
  static inline std::string server_error_;

  asio::io_context client_ioc_{1};
  asio::io_context dns_ioc_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> dns_work_{
      asio::make_work_guard(dns_ioc_)};
  asio::ip::udp::socket silent_{dns_ioc_};
  std::unique_ptr<Resolver> resolver_;
  std::thread dns_thread_;
};

TEST_F(DnsResolverTest, MxWithTwoPreferences) {
  auto a = mx("two.dns.test");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_FALSE(a.null_mx());
  EXPECT_FALSE(a.secure);  // no trust anchor configured
  auto ordered = order_mx(a.records);
  EXPECT_EQ(ordered[0].preference, 10);
  EXPECT_EQ(ordered[0].exchange, "mx1.two.dns.test");
  EXPECT_EQ(ordered[1].preference, 20);
  EXPECT_EQ(ordered[1].exchange, "mx2.two.dns.test");
}

TEST_F(DnsResolverTest, MxEqualPreferencesAreShuffledLowerFirst) {
  auto a = mx("equal.dns.test.");  // a trailing dot is allowed
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 3u);
  std::set<std::string> firsts;
  for (int i = 0; i < 200; ++i) {
    auto o = order_mx(a.records);
    ASSERT_EQ(o[0].preference, 10);
    ASSERT_EQ(o[1].preference, 10);
    ASSERT_EQ(o[2].exchange, "c.equal.dns.test");
    firsts.insert(o[0].exchange);
  }
  EXPECT_EQ(firsts, (std::set<std::string>{"a.equal.dns.test", "b.equal.dns.test"}));
}

TEST_F(DnsResolverTest, NoMxIsNodataAndTheAddressesAnswer) {
  // RFC 5321 §5.1: the caller then treats the host itself as the MX (implicit MX).
  auto a = mx("implicit.dns.test");
  EXPECT_EQ(a.status, Status::nodata) << a.error;
  EXPECT_TRUE(a.records.empty());
  auto h = addresses("implicit.dns.test", Family::both);
  ASSERT_EQ(h.status, Status::ok) << h.error;
  EXPECT_EQ(h.addresses, (std::vector<std::string>{"192.0.2.10", "2001:db8::10"}));
}

TEST_F(DnsResolverTest, NullMx) {
  auto a = mx("null.dns.test");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].preference, 0);
  EXPECT_EQ(a.records[0].exchange, "");
  EXPECT_TRUE(a.null_mx());
  EXPECT_EQ(addresses("null.dns.test", Family::both).status, Status::nodata);
}

TEST_F(DnsResolverTest, Nxdomain) {
  EXPECT_EQ(mx("nosuch.dns.test").status, Status::nxdomain);
  EXPECT_EQ(addresses("nosuch.dns.test", Family::both).status, Status::nxdomain);
  EXPECT_EQ(addresses("nosuch.dns.test", Family::ipv6).status, Status::nxdomain);
  // A CNAME to a name that does not exist.
  EXPECT_EQ(mx("dangling.dns.test").status, Status::nxdomain);
}

TEST_F(DnsResolverTest, CnameChainsAreFollowed) {
  // MX through two CNAMEs; the exchange comes back in lower case.
  auto a = mx("alias.dns.test");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].preference, 5);
  EXPECT_EQ(a.records[0].exchange, "mail.target.dns.test");
  // An MX target whose addresses are reached through two CNAMEs.
  auto m = mx("mxalias.dns.test");
  ASSERT_EQ(m.status, Status::ok) << m.error;
  ASSERT_EQ(m.records.size(), 1u);
  auto h = addresses(m.records[0].exchange, Family::prefer_ipv6);
  ASSERT_EQ(h.status, Status::ok) << h.error;
  EXPECT_EQ(h.addresses, (std::vector<std::string>{"2001:db8::30", "192.0.2.30"}));
}

TEST_F(DnsResolverTest, FamiliesAndTheirOrder) {
  auto v4 = addresses("multi.dns.test", Family::ipv4);
  ASSERT_EQ(v4.status, Status::ok) << v4.error;
  EXPECT_EQ(std::set<std::string>(v4.addresses.begin(), v4.addresses.end()),
            (std::set<std::string>{"192.0.2.41", "192.0.2.42"}));
  ASSERT_EQ(v4.addresses.size(), 2u);

  auto v6 = addresses("multi.dns.test", Family::ipv6);
  ASSERT_EQ(v6.status, Status::ok) << v6.error;
  EXPECT_EQ(std::set<std::string>(v6.addresses.begin(), v6.addresses.end()),
            (std::set<std::string>{"2001:db8::41", "2001:db8::42"}));
  ASSERT_EQ(v6.addresses.size(), 2u);

  // both: A first, then AAAA; prefer_ipv6: AAAA first, then A.
  auto is_v6 = [](const std::string& a) { return a.find(':') != std::string::npos; };
  auto both = addresses("multi.dns.test", Family::both);
  ASSERT_EQ(both.status, Status::ok) << both.error;
  ASSERT_EQ(both.addresses.size(), 4u);
  EXPECT_FALSE(is_v6(both.addresses[0]));
  EXPECT_FALSE(is_v6(both.addresses[1]));
  EXPECT_TRUE(is_v6(both.addresses[2]));
  EXPECT_TRUE(is_v6(both.addresses[3]));
  auto pref6 = addresses("multi.dns.test", Family::prefer_ipv6);
  ASSERT_EQ(pref6.status, Status::ok) << pref6.error;
  ASSERT_EQ(pref6.addresses.size(), 4u);
  EXPECT_TRUE(is_v6(pref6.addresses[0]));
  EXPECT_TRUE(is_v6(pref6.addresses[1]));
  EXPECT_FALSE(is_v6(pref6.addresses[2]));
  EXPECT_FALSE(is_v6(pref6.addresses[3]));

  // One family missing: the other answers; the missing one alone is NODATA.
  auto only4 = addresses("v4only.dns.test", Family::prefer_ipv6);
  ASSERT_EQ(only4.status, Status::ok) << only4.error;
  EXPECT_EQ(only4.addresses, (std::vector<std::string>{"192.0.2.20"}));
  EXPECT_EQ(addresses("v4only.dns.test", Family::ipv6).status, Status::nodata);
  auto only6 = addresses("v6only.dns.test", Family::both);
  ASSERT_EQ(only6.status, Status::ok) << only6.error;
  EXPECT_EQ(only6.addresses, (std::vector<std::string>{"2001:db8::20"}));
  EXPECT_EQ(addresses("v6only.dns.test", Family::ipv4).status, Status::nodata);
}

TEST_F(DnsResolverTest, SilentServerIsTemporaryWithinTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  auto a = mx("mail.dead.test");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(a.status, Status::temporary);
  EXPECT_NE(a.error.find("timeout"), std::string::npos) << a.error;
  EXPECT_GE(elapsed, test_timeout - 100ms);  // libunbound is still retrying: our deadline ends it
  EXPECT_LT(elapsed, test_timeout + 1s);

  start = std::chrono::steady_clock::now();
  auto h = addresses("mail.dead.test", Family::both);
  elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(h.status, Status::temporary);
  EXPECT_NE(h.error.find("A: timeout"), std::string::npos) << h.error;
  EXPECT_NE(h.error.find("AAAA: timeout"), std::string::npos) << h.error;
  EXPECT_LT(elapsed, test_timeout + 1s);
  // The resolver still answers other questions after a timeout.
  EXPECT_EQ(mx("two.dns.test").status, Status::ok);
}

TEST_F(DnsResolverTest, InvalidNamesAreNotAsked) {
  for (const char* bad :
       {"", ".", "a..b.test", "sp ace.dns.test", "caf\xc3\xa9.test", "-\x01.test"}) {
    auto a = mx(bad);
    EXPECT_EQ(a.status, Status::nxdomain) << bad;
    EXPECT_FALSE(a.error.empty()) << bad;
  }
  EXPECT_EQ(mx(std::string(64, 'a') + ".dns.test").status, Status::nxdomain);
  EXPECT_EQ(addresses(std::string("nul\0l.dns.test", 14), Family::both).status, Status::nxdomain);
}

TEST_F(DnsResolverTest, AwaitedFromOtherIoContextsAndThreads) {
  // Two client io_contexts, each on its own thread, asking at once: every answer resumes
  // its coroutine on the thread of the context that awaits it.
  resolver();
  constexpr int per_client = 20;
  struct Client {
    asio::io_context ioc{1};
    std::thread::id thread;
    int answered = 0;
    int on_own_thread = 0;
  };
  Client clients[2];
  for (auto& c : clients) {
    for (int i = 0; i < per_client; ++i) {
      asio::co_spawn(
          c.ioc,
          [&c, this, i]() -> asio::awaitable<void> {
            auto name = (i % 2 == 0) ? "two.dns.test" : "multi.dns.test";
            bool ok;
            if (i % 2 == 0) {
              ok = (co_await resolver_->mx(name)).status == Status::ok;
            } else {
              ok = (co_await resolver_->addresses(name, Family::both)).status == Status::ok;
            }
            c.answered += ok ? 1 : 0;
            c.on_own_thread += std::this_thread::get_id() == c.thread ? 1 : 0;
          },
          asio::detached);
    }
  }
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&c] {
      c.thread = std::this_thread::get_id();
      c.ioc.run_for(answer_bound);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& c : clients) {
    EXPECT_EQ(c.answered, per_client);
    EXPECT_EQ(c.on_own_thread, per_client);
  }
}

TEST_F(DnsResolverTest, AwaitedOnTheResolversOwnIoContext) {
  resolver();
  std::promise<Status> result;
  asio::co_spawn(
      dns_ioc_,
      [this]() -> asio::awaitable<Status> {
        co_return (co_await resolver_->mx("two.dns.test")).status;
      },
      [&](std::exception_ptr, Status s) { result.set_value(s); });
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(answer_bound), std::future_status::ready);
  EXPECT_EQ(f.get(), Status::ok);
}

TEST_F(DnsResolverTest, ShutdownAnswersQuestionsInFlight) {
  resolver();
  std::optional<MxAnswer> out;
  asio::co_spawn(client_ioc_, resolver_->mx("slow.dead.test"),
                 [&](std::exception_ptr, MxAnswer a) { out = std::move(a); });
  client_ioc_.run_for(200ms);  // the question is now with libunbound
  auto start = std::chrono::steady_clock::now();
  resolver_.reset();
  client_ioc_.restart();
  while (!out && std::chrono::steady_clock::now() - start < answer_bound) {
    client_ioc_.run_one_for(100ms);
  }
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, Status::temporary);
  EXPECT_NE(out->error.find("shut down"), std::string::npos) << out->error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, test_timeout);
}

TEST_F(DnsResolverTest, DestroyedAfterItsIoContextStopped) {
  // As ternd does at exit: the resolver's io_context is stopped and its thread joined
  // before the resolver goes, with a question still in flight. Nothing may crash or hang;
  // the unanswered question's handler is destroyed with the io_context.
  auto ioc = std::make_unique<asio::io_context>(1);
  auto work = asio::make_work_guard(*ioc);
  std::thread t([&] { ioc->run(); });
  auto r = Resolver::create(*ioc, test_options());
  ASSERT_TRUE(r) << r.error().message;
  bool answered = false;
  asio::co_spawn(client_ioc_, (*r)->mx("stuck.dead.test"),
                 [&](std::exception_ptr, MxAnswer) { answered = true; });
  client_ioc_.run_for(200ms);
  ioc->stop();
  t.join();
  work.reset();
  r.value().reset();
  ioc.reset();
  client_ioc_.restart();
  client_ioc_.poll();
  EXPECT_FALSE(answered);
}

TEST_F(DnsResolverTest, Forwarder) {
  // An explicit forwarder in libunbound's "ip@port" form; NSD answers its own zone.
  Options o;
  o.forwarders = {server_->address()};
  o.hosts_file = "";
  o.timeout = test_timeout;
  auto r = Resolver::create(dns_ioc_, o);
  ASSERT_TRUE(r) << r.error().message;
  resolver_ = std::move(*r);
  auto a = mx("tern.example");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].exchange, "mx.tern.example");
  auto h = addresses("mx.tern.example", Family::ipv4);
  ASSERT_EQ(h.status, Status::ok) << h.error;
  EXPECT_EQ(h.addresses, (std::vector<std::string>{"192.0.2.50"}));
}

TEST_F(DnsResolverTest, SystemConfigurationWithHostsFile) {
  // resolv.conf and hosts files of the test's own: names in the hosts file answer locally.
  auto dir =
      std::filesystem::temp_directory_path() / ("tern-dns-sys-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "resolv.conf") << "nameserver "
                                     << "127.0.0.1\n";
  std::ofstream(dir / "hosts")
      << "192.0.2.99 relay.hosts.example\n2001:db8::99 relay.hosts.example\n";
  Options o;
  o.resolv_conf = (dir / "resolv.conf").string();
  o.hosts_file = (dir / "hosts").string();
  o.timeout = test_timeout;
  auto r = Resolver::create(dns_ioc_, o);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r) << r.error().message;
  resolver_ = std::move(*r);
  auto h = addresses("relay.hosts.example", Family::both);
  ASSERT_EQ(h.status, Status::ok) << h.error;
  EXPECT_EQ(h.addresses, (std::vector<std::string>{"192.0.2.99", "2001:db8::99"}));
}

TEST_F(DnsResolverTest, BadConfigurationsAreRefused) {
  Options bad_forwarder;
  bad_forwarder.forwarders = {"not-an-address"};
  bad_forwarder.hosts_file = "";
  EXPECT_FALSE(Resolver::create(dns_ioc_, bad_forwarder));

  Options bad_stub;
  bad_stub.stub_zones["x.test"] = {"999.1.1.1"};
  bad_stub.hosts_file = "";
  EXPECT_FALSE(Resolver::create(dns_ioc_, bad_stub));

  Options no_server;
  no_server.stub_zones["x.test"] = {};
  no_server.hosts_file = "";
  EXPECT_FALSE(Resolver::create(dns_ioc_, no_server));

  Options missing_file;
  missing_file.resolv_conf = "/nonexistent/resolv.conf";
  missing_file.hosts_file = "";
  auto r = Resolver::create(dns_ioc_, missing_file);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/resolv.conf"), std::string::npos);

  Options zero_timeout = test_options();
  zero_timeout.timeout = 0ms;
  EXPECT_FALSE(Resolver::create(dns_ioc_, zero_timeout));
}

}  // namespace
}  // namespace tern::dns
