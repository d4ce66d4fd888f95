/**
 * The REST contract a user needs is in the repository (docs/rest-api.md), linked from the README,
 * and nothing points at a document outside it that users never see.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("README links docs/rest-api.md, which has every step of the contract", async () => {
  expect(await readFile(`${root}README.md`, "utf8")).toContain("(docs/rest-api.md)");
  const doc = await readFile(`${root}docs/rest-api.md`, "utf8");
  for (const command of [
    "POST http://localhost:8321/v1/files ",
    "/v1/files/session:<session_id> --data-binary",
    "curl http://localhost:8321/v1/files/dogs/shiba.jpg\n",
    ":content",
    "-X DELETE",
  ]) {
    expect(doc).toContain(command);
  }
});

test("no tracked file cites the workplace's shared folder", async () => {
  const folder = ["shared", ""].join("/"); // spelled in pieces, or this file would cite it
  const { stdout } = await promisify(execFile)("git", ["ls-files"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  const citing: string[] = [];
  for (const file of stdout.split("\n").filter((f) => f !== "")) {
    const text = await readFile(`${root}${file}`, "utf8").catch(() => "");
    if (new RegExp(`(^|[^\\w/.-])${folder}`).test(text)) citing.push(file);
  }
  expect(citing).toEqual([]);
});
