/** Database URLs: the connect timeout is an option, and a value that is not a URL is refused without being shown. */
import { connectDatabase, DatabaseUrlError } from "../../src/store/postgres/database.js";

test("the pool waits as long as the options say, 10 s by default", async () => {
  const fromOptions = connectDatabase({
    url: "postgres://u@127.0.0.1:1/db",
    schema: "public",
    max: 1,
    connectTimeoutSeconds: 4,
  });
  const byDefault = connectDatabase({ url: "postgres://u@127.0.0.1:1/db", schema: "public", max: 1 });
  expect([fromOptions.options.connect_timeout, byDefault.options.connect_timeout]).toEqual([4, 10]);
  await Promise.all([fromOptions.end(), byDefault.end()]);
});

test.each(["localhost:5432/db", "mysql://root:pw@h/db", "postgres://u:pw@h:port/db", ""])(
  "%j is not a database URL, and the error does not show it",
  (url) => {
    let caught: unknown;
    try {
      connectDatabase({ url, schema: "public", max: 1 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DatabaseUrlError);
    if (url) expect((caught as Error).message).not.toContain(url);
    expect((caught as Error).message).not.toContain("pw");
  },
);
