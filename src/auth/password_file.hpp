// A password file as auth::Backend: one `user:hash` per line, `#` comments and blank lines
// allowed; the user may be an address (`alice@example.org:$y$...`). Hashes are crypt(3)
// strings as `mkpasswd` and `doveadm pw` write them — yescrypt `$y$`, SHA-512-crypt `$6$`,
// bcrypt `$2b$`/`$2y$` (and their kin `$gy$`, `$7$`, `$5$`, `$2a$`) — optionally behind a
// Dovecot scheme prefix (`{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{BLF-CRYPT}`, `{CRYPT}`),
// verified with libxcrypt's crypt_rn — or SCRAM-SHA-256 credentials as `doveadm pw -s
// SCRAM-SHA-256` writes them (`{SCRAM-SHA-256}4096,salt,StoredKey,ServerKey`, scram.hpp):
// a user with those can use SCRAM-SHA-256 as well as PLAIN and LOGIN; a user with a crypt
// hash only PLAIN and LOGIN. Input: the file is the operator's, trusted for content but
// checked for syntax (errors as file:line); the credentials are untrusted.
// A line with a hash we will not use (plaintext, `{PLAIN}`, `{SSHA}`, DES, MD5-crypt) does
// not fail the load: the user cannot log in, and the load and each attempt log why.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/backend.hpp"
#include "core/result.hpp"

namespace tern::auth {

// A file this big is not a password file: refuse it instead of reading it into memory.
inline constexpr std::uintmax_t max_password_file_bytes = 64ull << 20;

class PasswordFile final : public Backend {
 public:
  // One stored credential.
  struct Entry {
    std::string hash;     // the crypt(3) string, scheme prefix removed; empty when refused
    std::optional<ScramCredentials> scram;  // a {SCRAM-SHA-256} entry instead of a hash
    std::string refused;  // why the hash cannot be used, or empty
    std::size_t line = 0;
  };

  // Reads and parses `path`; logs (component "auth") one warning per refused hash and one
  // if the file is readable by every user.
  static Result<std::unique_ptr<PasswordFile>> load(const std::filesystem::path& path);
  // Parses a file's text; `name` is the file name used in error messages. Refused hashes
  // are in `warnings()` (as "name:line: ..."), not logged.
  static Result<std::unique_ptr<PasswordFile>> parse(std::string_view text, std::string_view name);

  // Blocking (crypt, or PBKDF2 for a SCRAM entry): see Backend. Thread-safe: the entries
  // are immutable after load.
  using Backend::verify;
  [[nodiscard]] Result<bool> verify(std::string_view user, std::string_view password) override;
  // True when at least one entry is {SCRAM-SHA-256}.
  bool supports_scram() const override { return scram_entries_ > 0; }
  // The entry's SCRAM credentials; nullopt for an unknown user or one with a crypt hash.
  // Cheap (a lookup).
  [[nodiscard]] Result<std::optional<ScramCredentials>> scram_credentials(std::string_view user) override;

  std::size_t size() const { return entries_.size(); }
  const Entry* find(std::string_view user) const;
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  PasswordFile() = default;

  std::string name_;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::string> warnings_;
  std::size_t scram_entries_ = 0;
};

// The crypt(3) string of a stored hash with any Dovecot `{SCHEME}` prefix removed, or an
// error saying why it is refused (unknown scheme, plaintext, weak or malformed hash).
Result<std::string> usable_hash(std::string_view stored);

// Whether `password` hashes to `hash` (a crypt(3) string accepted by usable_hash), compared
// in constant time. Blocking. An error only when crypt itself fails on a valid setting.
Result<bool> check_crypt(std::string_view password, const std::string& hash);

}  // namespace tern::auth
