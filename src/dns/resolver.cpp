// Resolver: the MX and address questions of resolver.hpp over the libunbound Driver.
// Trusts nothing it is given: caller names are checked (records.cpp) before they are
// asked, answers are parsed and checked there too. RFC 5321 §5.1, RFC 7505.
#include "dns/resolver.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "dns/driver.hpp"
#include "dns/records.hpp"

namespace tern::dns {
namespace {

class UnboundResolver final : public Resolver {
 public:
  explicit UnboundResolver(std::shared_ptr<Driver> driver) : driver_(std::move(driver)) {}
  ~UnboundResolver() override { driver_->close(); }

  boost::asio::awaitable<MxAnswer> mx(std::string domain) override {
    auto name = query_name(domain);
    if (!name) co_return MxAnswer{Status::nxdomain, {}, false, name.error().message};
    auto driver = driver_;  // a copy: the Driver lives until this question is answered
    // A named vector: g++ 12 miscompiles a braced list inside a co_await expression.
    std::vector<int> types(1, rr_type_mx);
    auto answers =
        co_await driver->async_lookup(std::move(*name), types, boost::asio::use_awaitable);
    co_return mx_answer(answers.front());  // the Driver answers every question asked
  }

  boost::asio::awaitable<AddressAnswer> addresses(std::string host, Family family) override {
    auto name = query_name(host);
    if (!name) co_return AddressAnswer{Status::nxdomain, {}, false, name.error().message};
    auto types = address_types(family);
    auto driver = driver_;
    auto answers =
        co_await driver->async_lookup(std::move(*name), types, boost::asio::use_awaitable);
    co_return address_answer(answers, types);
  }

 private:
  std::shared_ptr<Driver> driver_;
};

}  // namespace

Result<std::unique_ptr<Resolver>> Resolver::create(boost::asio::io_context& ioc,
                                                   const Options& options) {
  auto driver = Driver::create(ioc, options);
  if (!driver) return fail(driver.error());
  return std::unique_ptr<Resolver>(std::make_unique<UnboundResolver>(std::move(*driver)));
}

}  // namespace tern::dns
