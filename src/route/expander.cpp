// Recipient expansion through the virtual alias map and the aliases table; the semantics
// and the contract are in the header.
#include "route/expander.hpp"

#include <algorithm>
#include <unordered_set>

#include "config/table_text.hpp"
#include "core/ascii.hpp"

namespace tern::route {
namespace detail = config::table_text;
namespace {


std::string key_of(const mail::Address& a) { return ascii_lower(a.local) + "@" + a.domain_ascii; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

mail::Address make_address(std::string local, const std::string& domain,
                           const std::string& domain_ascii) {
  mail::Address a;
  a.local = std::move(local);
  a.domain = domain;
  a.domain_ascii = domain_ascii;
  return a;
}

// One expansion: the depth-first walk and what it has found so far.
class Walk {
 public:
  Walk(const Expander& expander, const Aliases* aliases, const VirtualMap* virtual_map,
       const ExpanderConfig& config)
      : expander_(expander), aliases_(aliases), virtual_(virtual_map), config_(config) {}

  // Through the virtual map, then to its place: local aliases and mailboxes, or remote.
  bool route(const mail::Address& a, const std::string& sender, std::size_t depth) {
    if (!check_depth(a, depth)) return false;
    if (virtual_ == nullptr) return place(a, sender, depth);
    SplitLocal split = split_extension(a.local, config_.delimiters);
    bool with_extension = false;
    const VirtualEntry* entry = lookup_virtual(a, split, with_extension);
    if (entry == nullptr) return place(a, sender, depth);

    const std::string self = key_of(a);
    const std::string chain_key = "v:" + self;
    if (chain_.count(chain_key)) return failed(ExpandError::Kind::loop, "5.4.6",
                                               "virtual alias loop for " + a.text());
    const std::string done_key = chain_key + "\n" + sender;
    if (done_.count(done_key)) return true;
    chain_.insert(chain_key);
    for (const auto& t : entry->targets) {
      mail::Address r = rewrite(t, a, split, !with_extension && split.delimiter != '\0');
      bool ok = key_of(r) == self ? place(a, sender, depth) : route(r, sender, depth + 1);
      if (!ok) return false;
    }
    chain_.erase(chain_key);
    done_.insert(done_key);
    return true;
  }

  // An address after the virtual map: a local one to the aliases, a remote one out.
  bool place(const mail::Address& a, const std::string& sender, std::size_t depth) {
    if (expander_.is_local(a.domain_ascii)) return local(a, sender, depth, "", "");
    Destination d;
    d.kind = Destination::Kind::address;
    d.address = a;
    d.sender = sender;
    return emit(std::move(d));
  }

  // A local address through the aliases. `exp_from` is the alias whose list holds this
  // address (a reference to itself is the user's mailbox), `inherited` its extension.
  bool local(const mail::Address& a, const std::string& sender, std::size_t depth,
             std::string_view exp_from, std::string_view inherited) {
    if (!check_depth(a, depth)) return false;
    const std::string name = ascii_lower(a.local);
    SplitLocal split = split_extension(a.local, config_.delimiters);
    const std::string user = split.delimiter ? ascii_lower(split.user) : name;
    const AliasEntry* entry = nullptr;
    std::string key;
    if (aliases_ != nullptr) {
      if (name != exp_from) entry = aliases_->find(key = name);
      if (entry == nullptr && split.delimiter && user != exp_from)
        entry = aliases_->find(key = user);
    }
    if (entry == nullptr) {
      bool self = !exp_from.empty() && (name == exp_from || user == exp_from);
      return mailbox(a, user, split.extension.empty() && self ? std::string(inherited)
                                                              : split.extension,
                     sender, depth);
    }
    // The extension the alias did not match, for |command and /file (Postfix $EXTENSION).
    const std::string extension = key == name ? std::string() : split.extension;
    const std::string chain_key = "a:" + key;
    if (chain_.count(chain_key))
      return failed(ExpandError::Kind::loop, "5.4.6", "alias loop for " + key);
    const std::string done_key = chain_key + "\n" + a.domain_ascii + "\n" + extension;
    if (done_.count(done_key)) return true;
    chain_.insert(chain_key);
    const std::string owner = "owner-" + key;
    const std::string list_sender =
        aliases_->find(owner) != nullptr ? owner + "@" + a.domain_ascii : std::string();
    for (const auto& t : entry->targets) {
      bool ok = true;
      switch (t.kind) {
        case AliasTarget::Kind::address:
          ok = expander_.is_local(t.address.domain_ascii)
                   ? local(t.address, list_sender, depth + 1, key, extension)
                   : route(t.address, list_sender, depth + 1);
          break;
        case AliasTarget::Kind::local:
          ok = local(make_address(t.value, a.domain, a.domain_ascii), list_sender, depth + 1,
                     key, extension);
          break;
        case AliasTarget::Kind::file:
        case AliasTarget::Kind::pipe: {
          Destination d;
          d.kind = t.kind == AliasTarget::Kind::file ? Destination::Kind::file
                                                     : Destination::Kind::pipe;
          d.target = t.value;
          d.extension = extension;
          d.sender = list_sender;
          d.run_as = entry->run_as;
          ok = emit(std::move(d));
          break;
        }
        case AliasTarget::Kind::error: {
          Destination d;
          d.kind = Destination::Kind::error;
          d.code = t.code;
          d.enhanced = t.enhanced;
          d.text = t.value;
          d.sender = list_sender;
          ok = emit(std::move(d));
          break;
        }
      }
      if (!ok) return false;
    }
    chain_.erase(chain_key);
    done_.insert(done_key);
    return true;
  }

  std::vector<Destination> out_;
  ExpandError error_{};

 private:
  bool mailbox(const mail::Address& a, const std::string& user, std::string extension,
               const std::string& sender, std::size_t depth) {
    if (config_.user_exists && !config_.user_exists(user, a.domain_ascii)) {
      std::string text = user + "@" + a.domain_ascii + ": no such user here";
      if (depth == 0) return failed(ExpandError::Kind::unknown, "5.1.1", text);
      Destination d;
      d.kind = Destination::Kind::error;
      d.code = 550;
      d.enhanced = "5.1.1";
      d.text = std::move(text);
      d.sender = sender;
      return emit(std::move(d));
    }
    Destination d;
    d.kind = Destination::Kind::mailbox;
    d.address = make_address(user, a.domain, a.domain_ascii);
    d.extension = std::move(extension);
    d.sender = sender;
    return emit(std::move(d));
  }

  // Postfix virtual(5) lookup order; `with_extension` tells whether the key held it.
  const VirtualEntry* lookup_virtual(const mail::Address& a, const SplitLocal& split,
                                     bool& with_extension) const {
    const std::string local = ascii_lower(a.local);
    const std::string user = ascii_lower(split.user);
    const bool split_ok = split.delimiter != '\0';
    const bool is_local = expander_.is_local(a.domain_ascii);
    const VirtualEntry* e = nullptr;
    with_extension = split_ok;
    if ((e = virtual_->find(local + "@" + a.domain_ascii))) return e;
    if (is_local && !split_ok && (e = virtual_->find(local))) return e;
    with_extension = false;
    if (split_ok && (e = virtual_->find(user + "@" + a.domain_ascii))) return e;
    if (is_local && split_ok) {
      with_extension = true;
      if ((e = virtual_->find(local))) return e;
      with_extension = false;
      if ((e = virtual_->find(user))) return e;
    }
    return virtual_->find("@" + a.domain_ascii);
  }

  mail::Address rewrite(const VirtualTarget& t, const mail::Address& a,
                        const SplitLocal& split, bool propagate) const {
    std::string ext;
    if (propagate) ext = std::string(1, split.delimiter) + split.extension;
    switch (t.kind) {
      case VirtualTarget::Kind::address: {
        mail::Address r = t.address;
        r.local += ext;
        return r;
      }
      case VirtualTarget::Kind::local: {
        std::string origin = config_.origin;
        if (origin.empty())
          origin = config_.local_domains.empty() ? a.domain_ascii : config_.local_domains[0];
        return make_address(t.value + ext, origin, origin);
      }
      case VirtualTarget::Kind::domain:
        break;
    }
    return make_address(a.local, t.value, t.value);
  }

  bool emit(Destination d) {
    std::string key;
    switch (d.kind) {
      case Destination::Kind::mailbox:
        key = "m:" + key_of(d.address) + "\n" + d.extension;
        break;
      case Destination::Kind::address:
        key = "a:" + key_of(d.address);
        break;
      case Destination::Kind::file:
        key = "f:" + d.target;
        break;
      case Destination::Kind::pipe:
        key = "p:" + d.target;
        break;
      case Destination::Kind::error:
        key = "e:" + std::to_string(d.code) + " " + d.enhanced + " " + d.text;
        break;
    }
    if (!emitted_.insert(std::move(key)).second) return true;
    if (out_.size() >= max_destinations)
      return failed(ExpandError::Kind::too_many, "5.4.6",
                    "more than " + std::to_string(max_destinations) + " destinations");
    out_.push_back(std::move(d));
    return true;
  }

  bool check_depth(const mail::Address& a, std::size_t depth) {
    if (depth <= max_depth) return true;
    return failed(ExpandError::Kind::too_deep, "5.4.6",
                  "aliases nest more than " + std::to_string(max_depth) + " deep at " +
                      a.text());
  }

  bool failed(ExpandError::Kind kind, std::string enhanced, std::string text) {
    error_ = ExpandError{kind, std::move(enhanced), std::move(text)};
    return false;
  }

  const Expander& expander_;
  const Aliases* aliases_;
  const VirtualMap* virtual_;
  const ExpanderConfig& config_;
  std::unordered_set<std::string> emitted_;  // destinations already in out_
  std::unordered_set<std::string> chain_;    // keys being expanded, outermost first
  std::unordered_set<std::string> done_;     // keys expanded completely (with context)
};

}  // namespace

SplitLocal split_extension(std::string_view local, std::string_view delimiters) {
  SplitLocal s;
  s.user = local;
  if (delimiters.empty()) return s;
  std::size_t pos = local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) return s;
  const std::string lower = ascii_lower(local);
  // Postfix split_addr(): these names are never split on '-'.
  if (local[pos] == '-' && (lower.rfind("owner-", 0) == 0 || ends_with(lower, "-request") ||
                            lower == "mailer-daemon"))
    return s;
  s.user = local.substr(0, pos);
  s.extension = local.substr(pos + 1);
  s.delimiter = local[pos];
  return s;
}

Expander::Expander(const Aliases* aliases, const VirtualMap* virtual_map,
                   ExpanderConfig config)
    : aliases_(aliases), virtual_(virtual_map), config_(std::move(config)) {}

bool Expander::is_local(std::string_view domain_ascii) const {
  if (config_.every_domain_local)
    return std::find(config_.other_domains.begin(), config_.other_domains.end(),
                     domain_ascii) == config_.other_domains.end();
  return std::find(config_.local_domains.begin(), config_.local_domains.end(), domain_ascii) !=
         config_.local_domains.end();
}

Result<std::vector<Destination>, ExpandError> Expander::expand(
    const mail::Address& recipient) const {
  Walk walk(*this, aliases_, virtual_, config_);
  if (!walk.route(recipient, "", 0)) return fail(std::move(walk.error_));
  if (walk.out_.empty())
    return fail(ExpandError{ExpandError::Kind::empty, "4.3.0",
                            recipient.text() + " expands to no destinations (empty list)"});
  return std::move(walk.out_);
}

}  // namespace tern::route
