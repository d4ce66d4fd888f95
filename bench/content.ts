/**
 * The bytes every row moves: one random chunk, repeated up to the size. Sending it costs the
 * client nothing and allocates nothing, and checking what comes back is a memcmp against the same
 * chunk, so the machine's cores go to the server being measured.
 */
import { createHash, randomBytes } from "node:crypto";

/** The content of a bench run. */
export interface BenchContent {
  size: number;
  /** Hex SHA-256 of the whole content, as the service stores and answers it. */
  sha256: string;
  /** The content in `chunk`-sized parts (the last one shorter), the same buffer each time. */
  parts(): Generator<Buffer>;
  /** Checks bytes received in order from offset `start` against the content. */
  verifier(start?: number): ContentVerifier;
}

/** Compares received bytes with the content as they arrive. */
export interface ContentVerifier {
  /** Throws at the first byte that differs, or past the end. */
  update(data: Uint8Array): void;
  /** Throws unless exactly the bytes from `start` to the end have arrived. */
  finish(): void;
}

/** Content of `size` bytes made of one random `chunkSize` chunk. */
export function createBenchContent(size: number, chunkSize: number): BenchContent {
  const chunk = randomBytes(chunkSize);
  function* parts(): Generator<Buffer> {
    for (let sent = 0; sent < size; sent += chunkSize)
      yield sent + chunkSize <= size ? chunk : chunk.subarray(0, size - sent);
  }
  const hash = createHash("sha256");
  for (const part of parts()) hash.update(part);
  const sha256 = hash.digest("hex");

  function verifier(start = 0): ContentVerifier {
    let position = start;
    return {
      update(data) {
        if (position + data.length > size) throw new Error(`received more than the ${size - start} bytes expected`);
        // Byte for byte rather than a client-side SHA-256: hashing runs at well under 1 GiB/s and
        // would be the slowest part of a fast download row; memcmp is as exact and many times cheaper.
        for (let at = 0; at < data.length; ) {
          const inChunk = position % chunkSize;
          const n = Math.min(chunkSize - inChunk, data.length - at);
          if (chunk.compare(data, at, at + n, inChunk, inChunk + n) !== 0)
            throw new Error(`received bytes differ from the content within ${position}..${position + n}`);
          at += n;
          position += n;
        }
      },
      finish() {
        if (position !== size) throw new Error(`received ${position - start} bytes, expected ${size - start}`);
      },
    };
  }
  return { size, sha256, parts, verifier };
}
