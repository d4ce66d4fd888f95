/** Assertions on ConnectErrors thrown synchronously (validation and binding functions). */
import { Code, ConnectError } from "@connectrpc/connect";

/** Runs `fn`, expects a ConnectError with `code`, and answers it for further checks. */
export function connectErrorOf(fn: () => unknown, code: Code): ConnectError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  const err = caught as ConnectError;
  expect(Code[err.code]).toBe(Code[code]);
  return err;
}
