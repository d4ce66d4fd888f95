# The native SHA-256 with a state that can be saved (native/sha256_state.c). Built by npm at
# install; where it cannot be, the service uses the slower WASM hasher instead (content-hash.ts).
{
  "targets": [
    {
      "target_name": "sha256_state",
      "sources": ["native/sha256_state.c"],
      "cflags": ["-O2"]
    }
  ]
}
