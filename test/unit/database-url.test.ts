/** Database URLs: the connect timeout travels in them, and a value that is not one is refused without being shown. */
import { connectDatabase, DatabaseUrlError, withConnectTimeout } from "../../src/store/database.js";

test.each([
  ["postgres://u:p@h:5432/db", "postgres://u:p@h:5432/db?connect_timeout=7"],
  ["postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable&connect_timeout=7"],
  ["postgres://u@h/db?connect_timeout=30&sslmode=disable", "postgres://u@h/db?connect_timeout=7&sslmode=disable"],
  ["postgres://u@a:1,b:2/db", "postgres://u@a:1,b:2/db?connect_timeout=7"],
])("withConnectTimeout(%j, 7) is %j", (url, expected) => {
  expect(withConnectTimeout(url, 7)).toBe(expected);
});

test("the pool waits as long as the URL's connect_timeout says, unless the options say otherwise", async () => {
  const fromUrl = connectDatabase({ url: "postgres://u@127.0.0.1:1/db?connect_timeout=3", schema: "public", max: 1 });
  const fromOptions = connectDatabase({ url: "postgres://u@127.0.0.1:1/db?connect_timeout=3", schema: "public", max: 1, connectTimeoutSeconds: 4 });
  const byDefault = connectDatabase({ url: "postgres://u@127.0.0.1:1/db", schema: "public", max: 1 });
  expect([fromUrl.options.connect_timeout, fromOptions.options.connect_timeout, byDefault.options.connect_timeout]).toEqual([3, 4, 10]);
  await Promise.all([fromUrl.end(), fromOptions.end(), byDefault.end()]);
});

test.each(["localhost:5432/db", "mysql://root:pw@h/db", "postgres://u:pw@h:port/db", ""])("%j is not a database URL, and the error does not show it", (url) => {
  let caught: unknown;
  try {
    connectDatabase({ url, schema: "public", max: 1 });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DatabaseUrlError);
  if (url) expect((caught as Error).message).not.toContain(url);
  expect((caught as Error).message).not.toContain("pw");
});
