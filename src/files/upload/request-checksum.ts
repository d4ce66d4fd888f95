/**
 * The checksum an upload request may bring for its own content (UploadContentRequest.checksum, on
 * its first message): which algorithms are taken, what a malformed one is refused with, and the
 * running hash that says at the request's end whether its content matches.
 */
import { createHash, type Hash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RequestChecksum } from "../../../gen/files/v1/files_pb.js";

// The checksums a request may come with, and their digests' lengths.
const checksumLengths: Readonly<Record<string, number>> = { sha256: 32, sha1: 20, md5: 16 };

/** The refusal a message's checksum earns (`first`: it is the request's first message), if any. */
export function checksumProblem(checksum: RequestChecksum, first: boolean): ConnectError | undefined {
  if (!first) return new ConnectError("a request's checksum goes on its first message", Code.InvalidArgument);
  const { algorithm, digest } = checksum;
  const length = Object.hasOwn(checksumLengths, algorithm) ? checksumLengths[algorithm] : undefined;
  if (length === undefined)
    return new ConnectError(
      `checksum algorithm ${JSON.stringify(algorithm)} is not supported: use ${Object.keys(checksumLengths).join(", ")}`,
      Code.InvalidArgument,
    );
  if (digest.byteLength !== length)
    return new ConnectError(
      `a ${algorithm} checksum has ${length} bytes, not ${digest.byteLength}`,
      Code.InvalidArgument,
    );
  return undefined;
}

/** A request's content, hashed as it arrives, against the checksum it came with. */
export class CheckedContent {
  readonly #hash: Hash;

  /** For a checksum {@link checksumProblem} found nothing wrong with. */
  constructor(readonly checksum: RequestChecksum) {
    this.#hash = createHash(checksum.algorithm);
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  /** Whether everything given to update() matches the checksum (ends the hash). */
  matches(): boolean {
    return this.#hash.digest().equals(this.checksum.digest);
  }
}
