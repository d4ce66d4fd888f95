/** Assertions on ConnectErrors: thrown synchronously (validation, binding) or by calls that must fail. */
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

/** Awaits a call that must fail, expects a ConnectError, and answers it for further checks. */
export async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

/** Makes a call that must fail; answers its ConnectError and how long it took to fail. */
export async function timedFailureOf(call: () => Promise<unknown>): Promise<{ err: ConnectError; ms: number }> {
  const started = Date.now();
  const err = await failureOf(call());
  return { err, ms: Date.now() - started };
}
