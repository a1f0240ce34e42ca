// Destinations to stored recipients; see expansion.hpp.
#include "inbound/expansion.hpp"

namespace tern::inbound {

std::vector<spool::Recipient> stored_recipients(const std::vector<route::Destination>& expanded,
                                                const mail::Address& expanded_from,
                                                const spool::Recipient& original,
                                                std::string_view delimiters, bool null_sender) {
  const std::string& address = original.address;
  const std::string& domain = original.domain;
  const auto split = route::split_extension(expanded_from.local, delimiters);
  const char delimiter = split.delimiter ? split.delimiter
                                         : (delimiters.empty() ? '+' : delimiters.front());
  // RFC 3461 §4.2: the MTA may add ORCPT; the original recipient survives the rewriting.
  const std::string orcpt = original.orcpt.empty()
                                ? std::string(expanded_from.utf8() ? "utf-8;" : "rfc822;") + address
                                : original.orcpt;
  std::vector<spool::Recipient> out;
  for (const auto& d : expanded) {
    spool::Recipient r;
    r.notify = original.notify;
    switch (d.kind) {
      case route::Destination::Kind::mailbox: {
        mail::Address m = d.address;
        if (!d.extension.empty()) {
          r.target = m.local;
          m.local += delimiter;
          m.local += d.extension;
        }
        r.address = m.text();
        r.domain = m.domain_ascii;
        break;
      }
      case route::Destination::Kind::address:
        r.address = d.address.text();
        r.domain = d.address.domain_ascii;
        break;
      case route::Destination::Kind::error:
        r.kind = spool::RecipientKind::error;
        r.target = std::to_string(d.code) + " " + d.enhanced + " " + d.text;
        r.address = address;
        r.domain = domain;
        break;
      case route::Destination::Kind::file:
      case route::Destination::Kind::pipe:
        r.kind = d.kind == route::Destination::Kind::file ? spool::RecipientKind::file
                                                          : spool::RecipientKind::pipe;
        r.target = d.target;
        r.run_as = d.run_as;
        r.address = address;
        r.domain = domain;
        break;
    }
    if (r.address != address || r.kind != spool::RecipientKind::address ||
        !original.orcpt.empty())
      r.orcpt = orcpt;
    if (!null_sender) r.sender = d.sender;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tern::inbound
