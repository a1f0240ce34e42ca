// Password file backend; see password_file.hpp. Input: the operator's file (syntax checked,
// file:line errors) and untrusted credentials. Hashes: crypt(3) via libxcrypt (crypt_rn,
// crypt_checksalt); Dovecot password scheme prefixes as in `doveadm pw -l`; SCRAM-SHA-256
// credentials (scram.hpp).
#include "auth/password_file.hpp"

#include <crypt.h>
#include <string.h>  // explicit_bzero
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "auth/sasl.hpp"
#include "core/log.hpp"

namespace tern::auth {
namespace {

// crypt(3) prefixes we verify: the current strong families. DES, MD5-crypt ($1$), NTHASH
// and the like are refused: a stolen file of those is a list of passwords.
constexpr std::array<std::string_view, 8> accepted_prefixes = {
    "$y$",   // yescrypt, Debian's default (mkpasswd, passwd)
    "$gy$",  // gost-yescrypt
    "$7$",   // scrypt
    "$6$",   // SHA-512-crypt: doveadm pw -s SHA512-CRYPT, mkpasswd -m sha-512
    "$5$",   // SHA-256-crypt: doveadm pw -s SHA256-CRYPT
    "$2b$",  // bcrypt: mkpasswd -m bcrypt
    "$2y$",  // bcrypt: doveadm pw -s BLF-CRYPT
    "$2a$",  // bcrypt, older writers
};

// A Dovecot scheme prefix and the crypt(3) prefixes its hashes may carry.
struct Scheme {
  std::string_view name;
  std::vector<std::string_view> prefixes;  // empty: any accepted prefix
};
const std::array<Scheme, 4>& schemes() {
  static const std::array<Scheme, 4> table = {{
      {"CRYPT", {}},
      {"SHA512-CRYPT", {"$6$"}},
      {"SHA256-CRYPT", {"$5$"}},
      {"BLF-CRYPT", {"$2y$", "$2b$", "$2a$"}},
  }};
  return table;
}

bool starts_with_any(std::string_view s, const auto& prefixes) {
  for (std::string_view p : prefixes)
    if (s.starts_with(p)) return true;
  return false;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  // The length of a crypt string is public (it follows from the method), so only the
  // contents are compared in constant time.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Hashed for an unknown user so that a failed login costs about the same whether or not the
// user exists (a yescrypt setting at Debian's default cost).
constexpr const char* unknown_user_setting = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$";

// Dovecot's prefix for SCRAM-SHA-256 credentials (`doveadm pw -s SCRAM-SHA-256`).
constexpr std::string_view scram_prefix = "{SCRAM-SHA-256}";

}  // namespace

Result<std::string> usable_hash(std::string_view stored) {
  std::string_view hash = stored;
  const Scheme* scheme = nullptr;
  if (hash.starts_with("{")) {
    auto close = hash.find('}');
    if (close == std::string_view::npos) return fail("unterminated {SCHEME} prefix");
    std::string_view name = hash.substr(1, close - 1);
    for (const Scheme& s : schemes())
      if (s.name == name) scheme = &s;
    if (!scheme) {
      return fail("password scheme {" + std::string(name) +
                  "} is not supported; use {SHA512-CRYPT}, {BLF-CRYPT}, {SCRAM-SHA-256} or a "
                  "yescrypt $y$ hash");
    }
    hash.remove_prefix(close + 1);
  }
  if (!hash.starts_with("$")) {
    // Never echo the field: it may be a plaintext password.
    return fail("not a crypt(3) hash (plaintext or legacy DES?); generate one with mkpasswd");
  }
  if (!starts_with_any(hash, accepted_prefixes)) {
    return fail("crypt method " + std::string(hash.substr(0, hash.find('$', 1) + 1)) +
                " is not accepted (weak or unknown); use yescrypt, SHA-512-crypt or bcrypt");
  }
  if (scheme && !scheme->prefixes.empty() && !starts_with_any(hash, scheme->prefixes))
    return fail("hash does not match its {" + std::string(scheme->name) + "} prefix");
  // Every accepted method writes "$id$...$<hash>": at least three '$' and a hash after the
  // last one. A bare setting ("$6$salt$") would make crypt's output differ from it always.
  if (std::count(hash.begin(), hash.end(), '$') < 3 || hash.back() == '$')
    return fail("malformed crypt hash (salt without hash?)");
  std::string result(hash);
  switch (crypt_checksalt(result.c_str())) {
    case CRYPT_SALT_OK:
      break;
    case CRYPT_SALT_METHOD_LEGACY:
      return fail("crypt method is legacy");
    default:
      return fail("malformed or unsupported crypt hash");
  }
  return result;
}

Result<bool> check_crypt(std::string_view password, const std::string& hash) {
  // libxcrypt hashes at most CRYPT_MAX_PASSPHRASE_SIZE - 1 octets; a longer password can
  // never have been set, and a NUL would cut it short, so neither can match.
  if (password.size() >= CRYPT_MAX_PASSPHRASE_SIZE || password.find('\0') != std::string_view::npos)
    return false;
  auto data = std::make_unique<crypt_data>();  // zeroed, as crypt_rn requires
  std::string phrase(password);
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  bool match = false;
  bool failed = out == nullptr || out[0] == '*';
  if (!failed) match = equal_constant_time(out, hash);
  wipe(phrase);
  explicit_bzero(data.get(), sizeof(crypt_data));  // holds password-derived state
  if (failed) return fail("crypt failed on a stored hash");
  return match;
}

Result<std::unique_ptr<PasswordFile>> PasswordFile::parse(std::string_view text,
                                                          std::string_view name) {
  std::unique_ptr<PasswordFile> file(new PasswordFile());
  file->name_ = name;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#') continue;
    std::string where = std::string(name) + ":" + std::to_string(line_no) + ": ";
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail(where + "expected user:hash");
    std::string_view user = trim(line.substr(0, colon));
    std::string_view stored = trim(line.substr(colon + 1));
    if (user.empty()) return fail(where + "empty user name");
    if (user.size() > max_field_octets) return fail(where + "user name too long");
    if (stored.find(':') != std::string_view::npos)
      return fail(where + "more than one ':' (expected user:hash)");
    if (stored.empty()) return fail(where + "no password hash for " + std::string(user));
    if (auto it = file->entries_.find(std::string(user)); it != file->entries_.end()) {
      return fail(where + "user " + std::string(user) + " already defined on line " +
                  std::to_string(it->second.line));
    }
    Entry entry;
    entry.line = line_no;
    if (stored.starts_with(scram_prefix)) {
      if (auto scram = parse_dovecot_scram(stored.substr(scram_prefix.size()))) {
        entry.scram = std::move(*scram);
        ++file->scram_entries_;
      } else {
        entry.refused = scram.error().message;
      }
    } else if (auto hash = usable_hash(stored)) {
      entry.hash = std::move(*hash);
    } else {
      entry.refused = hash.error().message;
    }
    if (!entry.refused.empty()) {
      file->warnings_.push_back(where + "user " + std::string(user) +
                                " cannot log in: " + entry.refused);
    }
    file->entries_.emplace(std::string(user), std::move(entry));
  }
  return file;
}

Result<std::unique_ptr<PasswordFile>> PasswordFile::load(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail("cannot read " + path.string() + ": " + ec.message());
  if (size > max_password_file_bytes)
    return fail(path.string() + ": " + std::to_string(size) + " bytes is too large for a password file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("cannot read " + path.string());
  auto file = parse(text.str(), path.string());
  if (!file) return file;
  auto& lg = log::get("auth");
  for (const auto& w : (*file)->warnings()) lg.warn("{}", w);
  struct stat st {};
  // Hashes others can read are hashes others can attack offline.
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    lg.warn("{} is readable by every user; chmod o-r it", path.string());
  return file;
}

const PasswordFile::Entry* PasswordFile::find(std::string_view user) const {
  auto it = entries_.find(std::string(user));
  return it == entries_.end() ? nullptr : &it->second;
}

Result<bool> PasswordFile::verify(std::string_view user, std::string_view password) {
  const Entry* entry = find(user);
  if (!entry) {
    // Spend the time a real check would, so that timing does not tell which users exist.
    (void)check_crypt(password, unknown_user_setting);
    return false;
  }
  if (!entry->refused.empty()) {
    log::get("auth").warn("{}:{}: user {} cannot log in: {}", name_, entry->line, user,
                          entry->refused);
    return false;
  }
  if (entry->scram) return check_scram_password(password, *entry->scram);
  auto ok = check_crypt(password, entry->hash);
  if (!ok) {
    log::get("auth").error("{}:{}: user {}: {}", name_, entry->line, user, ok.error().message);
  }
  return ok;
}

Result<std::optional<ScramCredentials>> PasswordFile::scram_credentials(std::string_view user) {
  const Entry* entry = find(user);
  if (!entry || !entry->scram) return std::optional<ScramCredentials>{};
  return std::optional<ScramCredentials>{*entry->scram};
}

}  // namespace tern::auth
