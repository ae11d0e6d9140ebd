// Test key pairs generated with OpenSSL at run time (no keys in the repo).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

namespace rpm::test {

struct PemKeyPair {
  std::string privatePem;
  std::string publicPem;
};

// type "RSA" with bits, or "EC" with a curve name ("P-384").
inline PemKeyPair generateKeyPair(const char* type, const char* curveOrNull, size_t rsaBits = 2048) {
  EVP_PKEY* key = curveOrNull ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curveOrNull)
                              : EVP_PKEY_Q_keygen(nullptr, nullptr, type, rsaBits);
  PemKeyPair out;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(priv, &data);
  out.privatePem.assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(pub, &data);
  out.publicPem.assign(data, static_cast<size_t>(n));
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace rpm::test
