/*
 * openssl.h — OpenSSL 3, loaded when first needed.
 *
 * Debian builds libssl.so.3 and libcrypto.so.3 with BIND_NOW, so linking
 * them made the dynamic loader bind every one of their symbols at each
 * exec: two thirds of a plain host's start, for a module that never
 * touches TLS. Instead the host links neither: the first thing that needs
 * OpenSSL (a TLS context, the crypto library) calls xcs_openssl_load,
 * which dlopen()s both and looks up each function this file lists into
 * one table.
 *
 * Include this header, never <openssl/...> directly, in the host's own
 * files: it includes the OpenSSL headers first, then turns each listed
 * name into its table entry (#define SSL_new (xcs_openssl.SSL_new)), so
 * call sites and OpenSSL's own macros (SSL_CTX_set_options ->
 * SSL_CTX_ctrl, sk_X509_NAME_pop_free -> OPENSSL_sk_pop_free) read as
 * before, with the types the headers declare. A function used but not
 * listed is a link error, since nothing links OpenSSL.
 *
 * Nothing here may be called before xcs_openssl_load has returned NULL.
 */
#ifndef XCS_OPENSSL_H
#define XCS_OPENSSL_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Every OpenSSL function the host calls, libcrypto's then libssl's. */
#define XCS_OPENSSL_FUNCTIONS(X)                                                      \
  X(BIO_ctrl) X(BIO_ctrl_pending) X(BIO_free) X(BIO_new) X(BIO_read) X(BIO_s_mem)    \
  X(BIO_write) X(CRYPTO_memcmp) X(CRYPTO_set_mem_functions) X(ERR_clear_error)       \
  X(ERR_peek_last_error) X(ERR_reason_error_string) X(EVP_Digest) X(EVP_sha1)        \
  X(EVP_sha256) X(EVP_sha512) X(HMAC) X(OPENSSL_cleanse) X(OPENSSL_sk_pop_free)      \
  X(RAND_bytes) X(X509_NAME_free) X(X509_NAME_print_ex)                              \
  X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_get_default_cert_dir)                      \
  X(X509_get_issuer_name) X(X509_get_subject_name) X(X509_verify_cert_error_string)  \
  X(SSL_CIPHER_get_name) X(SSL_CTX_callback_ctrl) X(SSL_CTX_check_private_key)       \
  X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_load_verify_dir)                         \
  X(SSL_CTX_load_verify_locations) X(SSL_CTX_new) X(SSL_CTX_set_alpn_protos)         \
  X(SSL_CTX_set_alpn_select_cb) X(SSL_CTX_set_cipher_list)                           \
  X(SSL_CTX_set_ciphersuites) X(SSL_CTX_set_client_CA_list)                          \
  X(SSL_CTX_set_num_tickets) X(SSL_CTX_set_options) X(SSL_CTX_set_session_id_context) \
  X(SSL_CTX_set_verify) X(SSL_CTX_use_PrivateKey_file)                               \
  X(SSL_CTX_use_certificate_chain_file) X(SSL_ctrl) X(SSL_do_handshake) X(SSL_free)  \
  X(SSL_get0_alpn_selected) X(SSL_get0_param) X(SSL_get0_peer_certificate)           \
  X(SSL_get_current_cipher) X(SSL_get_error) X(SSL_get_servername)                   \
  X(SSL_get_verify_mode) X(SSL_get_verify_result) X(SSL_get_version)                 \
  X(SSL_load_client_CA_file) X(SSL_new) X(SSL_read) X(SSL_select_next_proto)         \
  X(SSL_session_reused) X(SSL_set0_rbio) X(SSL_set0_wbio) X(SSL_set1_host)           \
  X(SSL_set_SSL_CTX) X(SSL_set_accept_state) X(SSL_set_bio) X(SSL_set_connect_state) \
  X(SSL_shutdown) X(SSL_write) X(TLS_client_method) X(TLS_server_method)

/* Each entry has its function's own type. */
struct xcs_openssl {
#define XCS_OPENSSL_ENTRY(name) __typeof__(name) *name;
  XCS_OPENSSL_FUNCTIONS(XCS_OPENSSL_ENTRY)
#undef XCS_OPENSSL_ENTRY
};
extern struct xcs_openssl xcs_openssl;

/* Loads libcrypto.so.3 and libssl.so.3 once and fills the table, setting
 * OpenSSL's memory functions (tls_mem.h) before anything else of it runs.
 * NULL when OpenSSL is there (now or from an earlier call), else why not,
 * naming the library ("TLS and crypto need libssl.so.3: ..."), the same
 * answer every time. */
const char *xcs_openssl_load(void);

#define BIO_ctrl (xcs_openssl.BIO_ctrl)
#define BIO_ctrl_pending (xcs_openssl.BIO_ctrl_pending)
#define BIO_free (xcs_openssl.BIO_free)
#define BIO_new (xcs_openssl.BIO_new)
#define BIO_read (xcs_openssl.BIO_read)
#define BIO_s_mem (xcs_openssl.BIO_s_mem)
#define BIO_write (xcs_openssl.BIO_write)
#define CRYPTO_memcmp (xcs_openssl.CRYPTO_memcmp)
#define CRYPTO_set_mem_functions (xcs_openssl.CRYPTO_set_mem_functions)
#define ERR_clear_error (xcs_openssl.ERR_clear_error)
#define ERR_peek_last_error (xcs_openssl.ERR_peek_last_error)
#define ERR_reason_error_string (xcs_openssl.ERR_reason_error_string)
#define EVP_Digest (xcs_openssl.EVP_Digest)
#define EVP_sha1 (xcs_openssl.EVP_sha1)
#define EVP_sha256 (xcs_openssl.EVP_sha256)
#define EVP_sha512 (xcs_openssl.EVP_sha512)
#define HMAC (xcs_openssl.HMAC)
#define OPENSSL_cleanse (xcs_openssl.OPENSSL_cleanse)
#define OPENSSL_sk_pop_free (xcs_openssl.OPENSSL_sk_pop_free)
#define RAND_bytes (xcs_openssl.RAND_bytes)
#define X509_NAME_free (xcs_openssl.X509_NAME_free)
#define X509_NAME_print_ex (xcs_openssl.X509_NAME_print_ex)
#define X509_VERIFY_PARAM_set1_ip_asc (xcs_openssl.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_get_default_cert_dir (xcs_openssl.X509_get_default_cert_dir)
#define X509_get_issuer_name (xcs_openssl.X509_get_issuer_name)
#define X509_get_subject_name (xcs_openssl.X509_get_subject_name)
#define X509_verify_cert_error_string (xcs_openssl.X509_verify_cert_error_string)
#define SSL_CIPHER_get_name (xcs_openssl.SSL_CIPHER_get_name)
#define SSL_CTX_callback_ctrl (xcs_openssl.SSL_CTX_callback_ctrl)
#define SSL_CTX_check_private_key (xcs_openssl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (xcs_openssl.SSL_CTX_ctrl)
#define SSL_CTX_free (xcs_openssl.SSL_CTX_free)
#define SSL_CTX_load_verify_dir (xcs_openssl.SSL_CTX_load_verify_dir)
#define SSL_CTX_load_verify_locations (xcs_openssl.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (xcs_openssl.SSL_CTX_new)
#define SSL_CTX_set_alpn_protos (xcs_openssl.SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb (xcs_openssl.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_cipher_list (xcs_openssl.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (xcs_openssl.SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_client_CA_list (xcs_openssl.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_num_tickets (xcs_openssl.SSL_CTX_set_num_tickets)
#define SSL_CTX_set_options (xcs_openssl.SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context (xcs_openssl.SSL_CTX_set_session_id_context)
#define SSL_CTX_set_verify (xcs_openssl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (xcs_openssl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (xcs_openssl.SSL_CTX_use_certificate_chain_file)
#define SSL_ctrl (xcs_openssl.SSL_ctrl)
#define SSL_do_handshake (xcs_openssl.SSL_do_handshake)
#define SSL_free (xcs_openssl.SSL_free)
#define SSL_get0_alpn_selected (xcs_openssl.SSL_get0_alpn_selected)
#define SSL_get0_param (xcs_openssl.SSL_get0_param)
#define SSL_get0_peer_certificate (xcs_openssl.SSL_get0_peer_certificate)
#define SSL_get_current_cipher (xcs_openssl.SSL_get_current_cipher)
#define SSL_get_error (xcs_openssl.SSL_get_error)
#define SSL_get_servername (xcs_openssl.SSL_get_servername)
#define SSL_get_verify_mode (xcs_openssl.SSL_get_verify_mode)
#define SSL_get_verify_result (xcs_openssl.SSL_get_verify_result)
#define SSL_get_version (xcs_openssl.SSL_get_version)
#define SSL_load_client_CA_file (xcs_openssl.SSL_load_client_CA_file)
#define SSL_new (xcs_openssl.SSL_new)
#define SSL_read (xcs_openssl.SSL_read)
#define SSL_select_next_proto (xcs_openssl.SSL_select_next_proto)
#define SSL_session_reused (xcs_openssl.SSL_session_reused)
#define SSL_set0_rbio (xcs_openssl.SSL_set0_rbio)
#define SSL_set0_wbio (xcs_openssl.SSL_set0_wbio)
#define SSL_set1_host (xcs_openssl.SSL_set1_host)
#define SSL_set_SSL_CTX (xcs_openssl.SSL_set_SSL_CTX)
#define SSL_set_accept_state (xcs_openssl.SSL_set_accept_state)
#define SSL_set_bio (xcs_openssl.SSL_set_bio)
#define SSL_set_connect_state (xcs_openssl.SSL_set_connect_state)
#define SSL_shutdown (xcs_openssl.SSL_shutdown)
#define SSL_write (xcs_openssl.SSL_write)
#define TLS_client_method (xcs_openssl.TLS_client_method)
#define TLS_server_method (xcs_openssl.TLS_server_method)

#endif
