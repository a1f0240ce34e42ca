// Virtual alias maps, as Postfix virtual(5) reads them (virtual_alias_maps):
//
//   # comment
//   info@example.com     alice@example.com, bob@example.net
//   postmaster           root                  # bare key: local domains only
//   @example.org         catchall@example.com  # catch-all for a domain
//   @old.example         @new.example          # same user in another domain
//   keep@example.org     keep@example.org      # aliased to itself: recursion ends here
//
// A logical line is a key, whitespace, and a result: addresses separated by commas and/or
// whitespace (continuation lines and comments as in every Postfix table). Keys are folded
// to lower case, domains to A-labels. Results are addresses (user@domain, local or remote),
// bare names (the expander adds its origin domain, as Postfix appends $myorigin) or
// "@domain" (the original local part in that domain, Postfix's result rewriting).
//
// Key forms and lookup order for user+ext@domain (Postfix virtual(5) "ADDRESS EXTENSION"):
// "user+ext@domain", "user@domain", then, only when domain is one of the local domains,
// "user+ext" and "user", then "@domain". The lookup itself is here (find_for); recursion,
// self-aliases and extension propagation are the expander's (route/expander.hpp).
//
// A bare "user" key applies only to the local domains: Postfix matches it for $myorigin,
// $mydestination and the interface addresses, and Tern's local domains are that set. A
// Postfix "example.com anything" line (declaring a virtual alias domain) reads here as a
// bare key and has no effect on other domains: Tern's domains come from the configuration.
//
// Input: an administrator's file, checked line by line ("file:line: problem"); the map
// loads whole or not at all. Immutable after load: safe to share across threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "mail/address.hpp"

namespace tern::route {

struct VirtualTarget {
  enum class Kind { address, local, domain };
  Kind kind = Kind::address;
  mail::Address address;  // address
  std::string value;      // local: the name; domain: the domain as A-label ("@" removed)
};

struct VirtualEntry {
  std::vector<VirtualTarget> targets;  // never empty
  std::string where;                   // "file:line", for logs
};

class VirtualMap {
 public:
  VirtualMap() = default;  // the empty map

  static Result<VirtualMap> load(const std::string& path);
  // Parses `text`; `name` stands for the file in messages.
  static Result<VirtualMap> parse(std::string_view text, std::string_view name);

  // Adds the entries of a map read after this one (Postfix virtual_alias_maps lists
  // several: the first map holding a key wins), and its warnings.
  void merge(VirtualMap&& later);

  // Exact lookup of a normalised key: "user@domain" (local part lower-cased, domain as
  // A-label), "user" or "@domain". nullptr when absent.
  [[nodiscard]] const VirtualEntry* find(std::string_view key) const;
  std::size_t size() const { return entries_.size(); }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::unordered_map<std::string, VirtualEntry> entries_;
  std::vector<std::string> warnings_;
};

}  // namespace tern::route
