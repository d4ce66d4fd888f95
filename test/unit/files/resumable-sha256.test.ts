/** The resumable SHA-256: saved anywhere, resumed anywhere, it hashes what one pass would. */
import { createHash, randomBytes } from "node:crypto";
import { resumableSha256Kind, resumeSha256, resumeWasmSha256 } from "../../../src/files/resumable-sha256.js";

const data = randomBytes(3 * 65_536 + 17);
const whole = createHash("sha256").update(data).digest("hex");

test("this machine has the native hasher (npm builds it at install; CI must not fall back unnoticed)", () => {
  expect(resumableSha256Kind).toBe("native (OpenSSL)");
});

describe.each([
  ["the hasher this process uses", resumeSha256],
  ["the WASM fallback", resumeWasmSha256],
])("%s", (_, resume) => {
  test.each([0, 1, 63, 64, 65, 65_536, data.length])("saved after %i bytes and resumed elsewhere", async (cut) => {
    const first = await resume();
    first.update(data.subarray(0, cut));
    const saved = first.save()!;
    first.update(Buffer.from("bytes the saved state must not see"));
    const second = await resume(Buffer.from(saved));
    second.update(data.subarray(cut));
    expect(second.digest().toString("hex")).toBe(whole);
  });

  test("a state it did not save is refused with a reason", async () => {
    await expect(resume(Buffer.from([9, 1, 2, 3]))).rejects.toThrow(/state/);
  });
});
