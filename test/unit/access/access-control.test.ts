/**
 * One function decides which key a request carries (Authentication.check): the server runs it on
 * the headers before reading a body, and the interceptor runs the same one for every call.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createAuthentication } from "../../../src/access/access-control.js";
import { loadApiKeys } from "../../../src/access/api-keys.js";

const key = "alpha-key-0123456789";
const keys = loadApiKeys(`${key}:r:cats`, "");
const auth = createAuthentication(keys, ["grpc.health.v1.Health"]);

function refusal(authorization: string | undefined): ConnectError {
  try {
    auth.check("files.v1.FilesService", authorization);
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("not refused");
}

test("a valid key: its grant", () => {
  const caller = auth.check("files.v1.FilesService", `Bearer ${key}`);
  expect(caller !== "open" && [...(caller?.read ?? [])]).toEqual(["cats"]);
  expect(auth.check("files.v1.FilesService", `bearer   ${key}  `)).toBe(caller);
});

test.each([
  [undefined, "this service needs an API key: send Authorization: Bearer <key>"],
  ["", "this service needs an API key: send Authorization: Bearer <key>"],
  [`Basic ${key}`, "the Authorization header must be Bearer <key>"],
  [`Bearer ${key} extra`, "the Authorization header must be Bearer <key>"],
  ["Bearer wrong-key-0123456789", "the API key is not valid"],
])("Authorization %p: unauthenticated with a challenge", (authorization, message) => {
  const err = refusal(authorization);
  expect(err.code).toBe(Code.Unauthenticated);
  expect(err.rawMessage).toBe(message);
  expect(err.metadata.get("www-authenticate")).toBe('Bearer realm="files"');
});

test("an open service needs no key; without keys every service is open", () => {
  expect(auth.check("grpc.health.v1.Health", undefined)).toBeUndefined();
  expect(createAuthentication(loadApiKeys("", "")).check("files.v1.FilesService", undefined)).toBe("open");
});
