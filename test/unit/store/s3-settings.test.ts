/** The S3 store's pure parts: its location setting, its part sizes, and how its failures are told apart. */
import { parseS3Location } from "../../../src/store/blobs/s3/s3-client.js";
import { classifyS3Error } from "../../../src/store/blobs/s3/s3-errors.js";
import { contiguousParts, partSizeFor } from "../../../src/store/blobs/s3/s3-layout.js";

const MiB = 1024 * 1024;

describe("BLOB_STORE s3://bucket[/prefix]", () => {
  test.each([
    ["s3://files", { bucket: "files", prefix: "" }],
    ["s3://files/", { bucket: "files", prefix: "" }],
    ["s3://my.files-1/tenant/a", { bucket: "my.files-1", prefix: "tenant/a/" }],
    ["s3://files/a//", { bucket: "files", prefix: "a/" }],
  ])("%s", (url, expected) => {
    expect(parseS3Location(url)).toEqual(expected);
  });

  test.each(["files", "s3://", "s3://Files", "s3://ab", "s3://files/../x", "s3://files/a/./b", "http://files"])(
    "%s is refused with a reason",
    (url) => {
      expect(typeof parseS3Location(url)).toBe("string");
    },
  );
});

describe("part sizes", () => {
  test("the configured size, until a file would need more than 10,000 parts; then whole MiB that fit", () => {
    expect(partSizeFor(8 * MiB, 0)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 80_000 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 80_000 * MiB + 1)).toBe(9 * MiB);
    const huge = 5 * 1024 * 1024 * MiB; // 5 TiB, S3's largest object
    expect(partSizeFor(8 * MiB, huge) * 10_000).toBeGreaterThanOrEqual(huge);
  });

  test("only parts from 1 on, each of the part size, count", () => {
    const part = (number: number, size = 5) => ({ number, size, etag: `"${number}"` });
    expect(contiguousParts([part(1), part(2), part(3)], 5)).toBe(3);
    expect(contiguousParts([part(1), part(3)], 5)).toBe(1);
    expect(contiguousParts([part(2), part(3)], 5)).toBe(0);
    expect(contiguousParts([part(1), part(2, 4), part(3)], 5)).toBe(1);
  });
});

describe("S3 failures", () => {
  const answer = (status: number, name: string) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  test.each([
    [answer(503, "SlowDown"), "unavailable"],
    [answer(500, "InternalError"), "unavailable"],
    [Object.assign(new Error("connect"), { code: "ECONNREFUSED" }), "unavailable"],
    [answer(403, "QuotaExceeded"), "full"],
  ])("%s is %s", (err, kind) => {
    expect(classifyS3Error(err)?.kind).toBe(kind);
  });

  test.each([answer(404, "NoSuchKey"), answer(403, "AccessDenied"), new Error("a bug")])(
    "%s is not a failure to retry",
    (err) => {
      expect(classifyS3Error(err)).toBeUndefined();
    },
  );
});
