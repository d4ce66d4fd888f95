/**
 * SHA-256 whose running state can be saved with a committed offset and resumed by any server
 * (see content-hash.ts for when it is used). Two implementations, chosen once per process:
 *
 * - native/sha256_state.c, OpenSSL's SHA-256 (the one Node links) over a state buffer we own:
 *   about 1.7 GB/s here, as fast as Node's own hash. npm builds it at install (node-gyp).
 * - hash-wasm's WASM SHA-256, about 0.32 GB/s here, wherever the native one was not built.
 *
 * A saved state starts with a byte naming its implementation; the two cannot read each other's,
 * so every replica must run the same build while uploads are open (they do: one image).
 */
import { createRequire } from "node:module";
import { createSHA256, type IHasher } from "hash-wasm";
import { projectFile } from "../project-files.js";
import type { RunningSha256 } from "./content-hash.js";

interface NativeSha256 {
  stateSize: number;
  init(state: Buffer): void;
  update(state: Buffer, data: Uint8Array): void;
  digest(state: Buffer): Buffer;
}

const nativeFormat = 1;
const wasmFormat = 2;

const native: NativeSha256 | undefined = (() => {
  try {
    return createRequire(import.meta.url)(projectFile("build", "Release", "sha256_state.node")) as NativeSha256;
  } catch {
    return undefined;
  }
})();

/** Which implementation this process resumes with, for the log. */
export const resumableSha256Kind = native ? "native (OpenSSL)" : "wasm (hash-wasm)";

/** A resumable hasher, fresh or at a state saved earlier by {@link RunningSha256.save}. */
export async function resumeSha256(saved?: Uint8Array): Promise<RunningSha256> {
  const format = saved?.[0];
  if (saved && format !== (native ? nativeFormat : wasmFormat))
    throw new Error(
      `the upload's saved SHA-256 state was made by the ${format === nativeFormat ? "native" : "WASM"} hasher, ` +
        `and this server has the ${native ? "native" : "WASM"} one; run every replica on the same build while uploads are open`,
    );
  return native ? nativeSha256(native, saved?.subarray(1)) : resumeWasmSha256(saved);
}

/** The WASM hasher whatever this process has (the fallback, and what its tests drive). */
export async function resumeWasmSha256(saved?: Uint8Array): Promise<RunningSha256> {
  if (saved && saved[0] !== wasmFormat) throw new Error("the upload's saved SHA-256 state is not the WASM hasher's");
  return wasmSha256(saved?.subarray(1));
}

function nativeSha256(impl: NativeSha256, saved: Uint8Array | undefined): RunningSha256 {
  const state = Buffer.alloc(impl.stateSize);
  if (saved) {
    if (saved.byteLength !== state.length) throw new Error("the upload's saved SHA-256 state has the wrong size");
    state.set(saved);
  } else impl.init(state);
  return {
    update: (data) => impl.update(state, data),
    digest: () => impl.digest(state),
    save: () => Buffer.concat([Buffer.of(nativeFormat), state]),
    copy: () => nativeSha256(impl, Buffer.from(state)),
  };
}

async function wasmSha256(saved: Uint8Array | undefined): Promise<RunningSha256> {
  const hasher = await createSHA256();
  if (saved) {
    try {
      hasher.load(saved);
    } catch (err) {
      // A state names the exact hash-wasm build that saved it (hence its pinned version).
      throw new Error(
        `the upload's saved SHA-256 state cannot be resumed by this hash-wasm: ${(err as Error).message}`,
      );
    }
  }
  return wasmHasher(hasher);
}

function wasmHasher(hasher: IHasher): RunningSha256 {
  return {
    update: (data) => hasher.update(data),
    digest: () => Buffer.from(hasher.digest("binary")),
    save: () => Buffer.concat([Buffer.of(wasmFormat), hasher.save()]),
    copy: () => {
      throw new Error("a WASM hash goes back to its saved state; it is not copied");
    },
  };
}
