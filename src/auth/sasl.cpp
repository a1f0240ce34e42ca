// PLAIN, LOGIN and SCRAM-SHA-256 server mechanisms and strict base64; see sasl.hpp. Input:
// untrusted client lines. RFC 4954 §4 (exchange, "*", "=", 501/500), RFC 4616 §2 (PLAIN
// message), draft-murchison-sasl-login-00 (LOGIN prompts), RFC 4648 §4 (base64), RFC 5802
// and RFC 7677 (SCRAM, messages in scram_exchange.cpp).
#include "auth/sasl.hpp"

#include <array>
#include <cstdint>
#include <cstring>

#include "auth/scram_exchange.hpp"

namespace tern::auth {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// draft-murchison-sasl-login-00 §2: the prompts every LOGIN client expects, in base64.
constexpr std::string_view login_user_prompt = "VXNlcm5hbWU6";      // "Username:"
constexpr std::string_view login_password_prompt = "UGFzc3dvcmQ6";  // "Password:"

// The server's part of a SCRAM nonce: RFC 5802 §5.1 asks for a "random" value; 18 octets
// (144 bits) are 24 base64 characters, none of them ','.
constexpr std::size_t scram_nonce_octets = 18;

// Value of a base64 digit, or -1.
int digit_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

Failed failed(FailureKind kind, std::string reason) { return Failed{kind, std::move(reason)}; }

// Checks a line's length and the cancel marker, then decodes it.
std::variant<std::string, Failed> decode_line(std::string_view line) {
  if (line.size() > max_line_octets) {
    return failed(FailureKind::line_too_long,
                  "response of " + std::to_string(line.size()) + " octets");
  }
  if (line == "*") return failed(FailureKind::cancelled, "cancelled by the client");
  auto decoded = base64_decode(line);
  if (!decoded) return failed(FailureKind::bad_base64, "response is not base64");
  return std::move(*decoded);
}

}  // namespace

void wipe(std::string& s) {
  // A volatile write the optimiser cannot drop as dead.
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (std::uint32_t{static_cast<std::uint8_t>(bytes[i])} << 16) |
                      (std::uint32_t{static_cast<std::uint8_t>(bytes[i + 1])} << 8) |
                      std::uint32_t{static_cast<std::uint8_t>(bytes[i + 2])};
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{static_cast<std::uint8_t>(bytes[i])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<std::uint8_t>(bytes[i + 1])} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    std::array<int, 4> d{};
    std::size_t digits = last ? 4 - pad : 4;
    for (std::size_t k = 0; k < 4; ++k) {
      if (k >= digits) {
        d[k] = 0;
        continue;
      }
      d[k] = digit_value(text[i + k]);
      if (d[k] < 0) return std::nullopt;  // also '=' before the end
    }
    std::uint32_t v = (std::uint32_t(d[0]) << 18) | (std::uint32_t(d[1]) << 12) |
                      (std::uint32_t(d[2]) << 6) | std::uint32_t(d[3]);
    out += static_cast<char>((v >> 16) & 0xff);
    if (digits >= 3) out += static_cast<char>((v >> 8) & 0xff);
    if (digits == 4) out += static_cast<char>(v & 0xff);
    // RFC 4648 §3.5: the bits a padded group does not use must be zero; otherwise two
    // texts would decode to the same bytes.
    if (digits == 2 && (d[1] & 0x0f) != 0) return std::nullopt;
    if (digits == 3 && (d[2] & 0x03) != 0) return std::nullopt;
  }
  return out;
}

std::optional<Mechanism> parse_mechanism(std::string_view name) {
  for (Mechanism m : {Mechanism::plain, Mechanism::login, Mechanism::scram_sha_256})
    if (iequals(name, mechanism_name(m))) return m;
  return std::nullopt;
}

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::plain:
      return "PLAIN";
    case Mechanism::login:
      return "LOGIN";
    case Mechanism::scram_sha_256:
      return "SCRAM-SHA-256";
  }
  return "?";
}

FailureReply reply_for(FailureKind kind) {
  // RFC 4954 §4 and §6 name the codes; the texts say what to do.
  switch (kind) {
    case FailureKind::cancelled:
      return {501, "5.7.0", "Authentication cancelled"};
    case FailureKind::line_too_long:
      return {500, "5.5.6", "Authentication Exchange line is too long"};
    case FailureKind::bad_base64:
      return {501, "5.5.2", "Cannot decode response: base64 expected"};
    case FailureKind::malformed:
      return {501, "5.5.2", "Malformed authentication response"};
    case FailureKind::field_too_long:
      return {535, "5.7.8", "Authentication credentials invalid"};
    case FailureKind::authz_mismatch:
      return {535, "5.7.8", "Authorization identity must be empty or the user name"};
    case FailureKind::out_of_order:
      return {503, "5.5.1", "Bad sequence of commands"};
    case FailureKind::bad_proof:
      return {535, "5.7.8", "Authentication credentials invalid"};
    case FailureKind::channel_binding:
      return {504, "5.5.4", "Channel binding is not supported: use SCRAM-SHA-256 without it"};
    case FailureKind::temporary:
      break;
  }
  return {454, "4.7.0", "Temporary authentication failure"};
}

SaslServer::SaslServer() = default;
SaslServer::SaslServer(SaslOptions options) : options_(std::move(options)) {}
SaslServer::SaslServer(SaslServer&&) noexcept = default;
SaslServer& SaslServer::operator=(SaslServer&&) noexcept = default;
SaslServer::~SaslServer() = default;

Step SaslServer::start(Mechanism mechanism, std::optional<std::string_view> initial) {
  if (state_ != State::idle) return finish(failed(FailureKind::out_of_order, "exchange already started"));
  switch (mechanism) {
    case Mechanism::plain:
      state_ = State::plain_response;
      break;
    case Mechanism::login:
      state_ = State::login_user;
      // Many clients send the user name as an initial response ("AUTH LOGIN dXNlcg==").
      if (!initial) return Challenge{std::string(login_user_prompt)};
      break;
    case Mechanism::scram_sha_256:
      state_ = State::scram_client_first;
      scram_ = std::make_unique<ScramExchange>();
      break;
  }
  // RFC 4954 §4: without an initial response the server sends an empty challenge.
  if (!initial) return Challenge{};
  // RFC 4954 §4: "=" is an initial response of zero length.
  if (*initial == "=") return respond("");
  if (initial->empty()) return finish(failed(FailureKind::bad_base64, "empty initial response"));
  return respond(*initial);
}

Step SaslServer::respond(std::string_view line) {
  if (state_ == State::idle || state_ == State::finished) {
    return finish(failed(FailureKind::out_of_order, "no exchange in progress"));
  }
  auto decoded = decode_line(line);
  if (auto* f = std::get_if<Failed>(&decoded)) return finish(std::move(*f));
  std::string& bytes = std::get<std::string>(decoded);
  Step result;
  switch (state_) {
    case State::plain_response:
      result = on_plain(bytes);
      break;
    case State::login_user:
    case State::login_password:
      result = on_login(bytes);
      break;
    case State::scram_client_first:
    case State::scram_client_final:
    case State::scram_server_final:
      result = on_scram(bytes);
      break;
    case State::scram_need_credentials:
      result = failed(FailureKind::out_of_order, "a line while SCRAM credentials are looked up");
      break;
    case State::idle:
    case State::finished:
      break;  // handled above
  }
  wipe(bytes);
  if (std::holds_alternative<Challenge>(result) || std::holds_alternative<NeedCredentials>(result))
    return result;
  return finish(std::move(result));
}

// draft-murchison-sasl-login-00: the user name, then the password, one line each.
Step SaslServer::on_login(std::string_view decoded) {
  bool user = state_ == State::login_user;
  std::string_view what = user ? "user name" : "password";
  if (decoded.empty() || decoded.find('\0') != std::string_view::npos)
    return failed(FailureKind::malformed, "LOGIN " + std::string(what) + " empty or with NUL");
  if (decoded.size() > max_field_octets)
    return failed(FailureKind::field_too_long, "LOGIN " + std::string(what) + " too long");
  if (!user) return Done{std::move(user_), std::string(decoded)};
  user_ = decoded;
  state_ = State::login_password;
  return Challenge{std::string(login_password_prompt)};
}

// RFC 5802 §5: client-first, then client-final, then (RFC 4954 §4) an empty line that
// acknowledges the server-final challenge.
Step SaslServer::on_scram(std::string_view decoded) {
  if (state_ == State::scram_server_final) {
    if (!decoded.empty()) return failed(FailureKind::malformed, "SCRAM: data after server-final");
    return Authenticated{std::move(user_)};
  }
  auto next = state_ == State::scram_client_first ? scram_->client_first(decoded)
                                                  : scram_->client_final(decoded);
  if (auto* f = std::get_if<Failed>(&next)) return std::move(*f);
  std::string& text = std::get<std::string>(next);
  if (state_ == State::scram_client_first) {
    user_ = std::move(text);
    state_ = State::scram_need_credentials;
    return NeedCredentials{user_};
  }
  state_ = State::scram_server_final;
  return Challenge{base64_encode(text)};
}

Step SaslServer::provide(std::optional<ScramCredentials> credentials) {
  if (state_ != State::scram_need_credentials)
    return finish(failed(FailureKind::out_of_order, "SCRAM credentials not asked for"));
  std::string nonce;
  if (options_.scram_nonce) {
    nonce = options_.scram_nonce();
  } else if (auto random = random_octets(scram_nonce_octets)) {
    nonce = base64_encode(*random);
  } else {
    return finish(failed(FailureKind::temporary, random.error().message));
  }
  if (!credentials) {
    std::string_view secret = options_.scram_secret.empty()
                                  ? process_scram_secret()
                                  : std::string_view(options_.scram_secret);
    credentials = fake_scram_credentials(user_, secret);
  }
  state_ = State::scram_client_final;
  return Challenge{base64_encode(scram_->server_first(std::move(*credentials), nonce))};
}

// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, none containing NUL.
Step SaslServer::on_plain(std::string_view decoded) {
  auto first = decoded.find('\0');
  if (first == std::string_view::npos) return failed(FailureKind::malformed, "PLAIN response without NUL");
  auto second = decoded.find('\0', first + 1);
  if (second == std::string_view::npos) {
    return failed(FailureKind::malformed, "PLAIN response with one NUL, two expected");
  }
  if (decoded.find('\0', second + 1) != std::string_view::npos) {
    return failed(FailureKind::malformed, "PLAIN response with more than two NULs");
  }
  std::string_view authzid = decoded.substr(0, first);
  std::string_view authcid = decoded.substr(first + 1, second - first - 1);
  std::string_view passwd = decoded.substr(second + 1);
  if (authcid.empty()) return failed(FailureKind::malformed, "PLAIN response with empty user name");
  if (passwd.empty()) return failed(FailureKind::malformed, "PLAIN response with empty password");
  if (authzid.size() > max_field_octets || authcid.size() > max_field_octets ||
      passwd.size() > max_field_octets) {
    return failed(FailureKind::field_too_long, "PLAIN field over " + std::to_string(max_field_octets) + " octets");
  }
  if (!authzid.empty() && authzid != authcid) {
    // The user name is not a secret; the log may show whom the client tried to act as.
    return failed(FailureKind::authz_mismatch, "authorization identity differs from user " +
                                                    std::string(authcid));
  }
  return Done{std::string(authcid), std::string(passwd)};
}

Step SaslServer::finish(Step step) {
  state_ = State::finished;
  wipe(user_);
  scram_.reset();  // holds the user's keys
  return step;
}

}  // namespace tern::auth
