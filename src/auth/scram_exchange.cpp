// SCRAM-SHA-256 server exchange; see scram_exchange.hpp. RFC 5802 §5.1 (attributes), §6
// (channel binding flags), §7 (grammar), §3 (proof and signature); RFC 7677 (SHA-256).
// Input: untrusted client messages (already base64-decoded by SaslServer).
#include "auth/scram_exchange.hpp"

#include <vector>

#include "auth/text.hpp"
namespace tern::auth {
namespace {

// One "a=value" of RFC 5802 §7 `attr-val`.
struct Attribute {
  char name;
  std::string_view value;
};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 5802 §7: attr-val = ALPHA "=" value; value = 1*value-char (no NUL, no ',').
std::optional<Attribute> parse_attribute(std::string_view part) {
  if (part.size() < 3 || !is_alpha(part[0]) || part[1] != '=') return std::nullopt;
  std::string_view value = part.substr(2);
  if (value.find('\0') != std::string_view::npos) return std::nullopt;
  return Attribute{part[0], value};
}

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (no ',').
bool is_printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce)
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  return true;
}

Failed malformed(std::string reason) { return Failed{FailureKind::malformed, std::move(reason)}; }

// RFC 5802 §5.1: "All extensions are optional": unknown ones after the mandatory
// attributes are ignored, but each must still be an attr-val.
bool extensions_well_formed(const std::vector<std::string_view>& parts, std::size_t from,
                            std::size_t to) {
  for (std::size_t i = from; i < to; ++i)
    if (!parse_attribute(parts[i])) return false;
  return true;
}

std::string xor_octets(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

}  // namespace

std::optional<std::string> decode_saslname(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\0' || c == ',') return std::nullopt;
    if (c != '=') {
      out += c;
      continue;
    }
    std::string_view escape = text.substr(i, 3);
    if (escape == "=2C") {
      out += ',';
    } else if (escape == "=3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

// RFC 5802 §7:
//   client-first-message = gs2-header client-first-message-bare
//   gs2-header = gs2-cbind-flag "," [ authzid ] ","
//   client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
std::variant<std::string, Failed> ScramExchange::client_first(std::string_view message) {
  auto parts = split(message, ',');
  if (parts.size() < 4) return malformed("SCRAM client-first message too short");
  std::string_view flag = parts[0];
  if (flag.starts_with("p=")) {
    // RFC 5802 §6: the client wants channel binding, which we do not offer.
    return Failed{FailureKind::channel_binding, "SCRAM client asked for channel binding"};
  }
  if (flag != "n" && flag != "y") return malformed("SCRAM gs2 flag is not n, y or p=");
  std::optional<std::string> authzid;
  if (!parts[1].empty()) {
    if (!parts[1].starts_with("a=")) return malformed("SCRAM authzid without a=");
    authzid = decode_saslname(parts[1].substr(2));
    if (!authzid || authzid->empty()) return malformed("SCRAM authzid is not a saslname");
  }
  if (parts[2].starts_with("m=")) {
    // RFC 5802 §5.1: a server that does not support the mandatory extension must fail.
    return malformed("SCRAM mandatory extension (m=) not supported");
  }
  auto user = parse_attribute(parts[2]);
  auto nonce = parse_attribute(parts[3]);
  if (!user || user->name != 'n') return malformed("SCRAM client-first without n=");
  if (!nonce || nonce->name != 'r' || !is_printable_nonce(nonce->value))
    return malformed("SCRAM client-first without a printable r= nonce");
  if (!extensions_well_formed(parts, 4, parts.size()))
    return malformed("SCRAM client-first with a malformed extension");
  auto name = decode_saslname(user->value);
  if (!name || name->empty()) return malformed("SCRAM user name is not a saslname");
  if (name->size() > max_field_octets || nonce->value.size() > max_field_octets)
    return Failed{FailureKind::field_too_long, "SCRAM user name or nonce too long"};
  if (authzid && *authzid != *name) {
    return Failed{FailureKind::authz_mismatch, "authorization identity differs from user " + *name};
  }
  std::size_t header_length = parts[0].size() + parts[1].size() + 2;
  gs2_header_ = std::string(message.substr(0, header_length));
  client_first_bare_ = std::string(message.substr(header_length));
  client_nonce_ = std::string(nonce->value);
  return std::move(*name);
}

// RFC 5802 §7: server-first-message = nonce "," salt "," iteration-count.
std::string ScramExchange::server_first(ScramCredentials credentials,
                                        std::string_view server_nonce) {
  credentials_ = std::move(credentials);
  nonce_ = client_nonce_ + std::string(server_nonce);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(credentials_.salt) +
                  ",i=" + std::to_string(credentials_.iterations);
  return server_first_;
}

// RFC 5802 §7:
//   client-final-message-without-proof = channel-binding "," nonce ["," extensions]
//   client-final-message = client-final-message-without-proof "," proof
// and §3: ClientSignature := HMAC(StoredKey, AuthMessage); ClientKey := ClientProof XOR
// ClientSignature; the proof is right when H(ClientKey) = StoredKey.
std::variant<std::string, Failed> ScramExchange::client_final(std::string_view message) {
  auto parts = split(message, ',');
  if (parts.size() < 3) return malformed("SCRAM client-final message too short");
  auto binding = parse_attribute(parts[0]);
  auto nonce = parse_attribute(parts[1]);
  auto proof = parse_attribute(parts.back());
  if (!binding || binding->name != 'c' || !nonce || nonce->name != 'r' || !proof ||
      proof->name != 'p')
    return malformed("SCRAM client-final is not c=, r=, ..., p=");
  if (!extensions_well_formed(parts, 2, parts.size() - 1))
    return malformed("SCRAM client-final with a malformed extension");
  // Without channel binding, c= carries the gs2 header alone (RFC 5802 §7 cbind-input).
  auto cbind = base64_decode(binding->value);
  if (!cbind || *cbind != gs2_header_)
    return malformed("SCRAM channel binding data differs from the gs2 header");
  if (nonce->value != nonce_) return Failed{FailureKind::bad_proof, "SCRAM nonce does not match"};
  auto client_proof = base64_decode(proof->value);
  if (!client_proof || client_proof->size() != scram_key_octets)
    return malformed("SCRAM proof is not base64 of 32 octets");

  std::string_view without_proof = message.substr(0, message.size() - parts.back().size() - 1);
  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  std::string signature = hmac_sha256(credentials_.stored_key, auth_message);
  std::string client_key = xor_octets(*client_proof, signature);
  bool right = equal_secret(sha256(client_key), credentials_.stored_key);
  wipe(client_key);
  wipe(*client_proof);
  if (!right) return Failed{FailureKind::bad_proof, "SCRAM proof is wrong"};
  return "v=" + base64_encode(hmac_sha256(credentials_.server_key, auth_message));
}

}  // namespace tern::auth
