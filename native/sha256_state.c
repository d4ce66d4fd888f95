/*
 * SHA-256 whose running state is a plain buffer the caller owns: Node's own hash runs OpenSSL at
 * full speed (SHA-NI where the CPU has it) but cannot hand its state out, and an upload on S3 must
 * save that state with every committed offset so that another server can go on hashing. This
 * binds OpenSSL's SHA256_Init/Update/Final, which Node itself links and exports, to a Buffer of
 * sizeof(SHA256_CTX) bytes: saving is copying the buffer, resuming is passing the copy back.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/sha.h>

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error(env, NULL, "sha256_state: " #call " failed");        \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

/* The state buffer passed as argument `index`, checked to be exactly one SHA256_CTX. */
static SHA256_CTX *state_of(napi_env env, napi_value *args, size_t count, size_t index) {
  void *data;
  size_t length;
  if (index >= count || napi_get_buffer_info(env, args[index], &data, &length) != napi_ok ||
      length != sizeof(SHA256_CTX)) {
    napi_throw_type_error(env, NULL, "sha256_state: the state must be a Buffer of stateSize bytes");
    return NULL;
  }
  return (SHA256_CTX *)data;
}

/* init(state): a fresh hash in `state`. */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t count = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &count, args, NULL, NULL));
  SHA256_CTX *ctx = state_of(env, args, count, 0);
  if (ctx == NULL) return NULL;
  SHA256_Init(ctx);
  return NULL;
}

/* update(state, data): hashes the bytes of a Uint8Array (any view) into `state`. */
static napi_value update(napi_env env, napi_callback_info info) {
  size_t count = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &count, args, NULL, NULL));
  SHA256_CTX *ctx = state_of(env, args, count, 0);
  if (ctx == NULL) return NULL;
  bool typed = false;
  if (count < 2 || napi_is_typedarray(env, args[1], &typed) != napi_ok || !typed) {
    napi_throw_type_error(env, NULL, "sha256_state: data must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_typedarray_info(env, args[1], &type, &length, &data, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "sha256_state: data must be a Uint8Array");
    return NULL;
  }
  SHA256_Update(ctx, data, length);
  return NULL;
}

/* digest(state): the 32-byte hash (the state is used up). */
static napi_value digest(napi_env env, napi_callback_info info) {
  size_t count = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &count, args, NULL, NULL));
  SHA256_CTX *ctx = state_of(env, args, count, 0);
  if (ctx == NULL) return NULL;
  void *out;
  napi_value result;
  CHECK(napi_create_buffer(env, SHA256_DIGEST_LENGTH, &out, &result));
  SHA256_Final((unsigned char *)out, ctx);
  return result;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_value fn, size;
  CHECK(napi_create_function(env, "init", NAPI_AUTO_LENGTH, init, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "init", fn));
  CHECK(napi_create_function(env, "update", NAPI_AUTO_LENGTH, update, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "update", fn));
  CHECK(napi_create_function(env, "digest", NAPI_AUTO_LENGTH, digest, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "digest", fn));
  CHECK(napi_create_uint32(env, sizeof(SHA256_CTX), &size));
  CHECK(napi_set_named_property(env, exports, "stateSize", size));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
