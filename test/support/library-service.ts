/**
 * The test-only LibraryService (test/fixtures/transcoding/library.proto): compiled with buf at test
 * time into descriptors the code has never seen, and implemented over them, so that tests can show
 * the transcoder serves any annotated service without a line of code about it.
 */
import {
  create,
  createFileRegistry,
  fromBinary,
  type DescMessage,
  type DescService,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** The LibraryService descriptor and its messages. */
export interface Library {
  service: DescService;
  message(name: string): DescMessage;
  /** Routes implementing the service (books are made up from the requests). */
  routes(router: ConnectRouter): void;
}

/** Compiles library.proto with buf (offline, from the repo's own copies of the imports). */
export async function loadLibrary(): Promise<Library> {
  const dir = await mkdtemp(path.join(tmpdir(), "library-proto-"));
  try {
    await mkdir(path.join(dir, "google/api"), { recursive: true });
    for (const f of ["annotations.proto", "http.proto"])
      await copyFile(path.join(root, "third_party/google/api", f), path.join(dir, "google/api", f));
    await copyFile(path.join(root, "test/fixtures/transcoding/library.proto"), path.join(dir, "library.proto"));
    await writeFile(path.join(dir, "buf.yaml"), "version: v2\n");
    await promisify(execFile)(path.join(root, "node_modules/.bin/buf"), ["build", "-o", "image.binpb"], { cwd: dir });
    const registry = createFileRegistry(
      fromBinary(FileDescriptorSetSchema, await readFile(path.join(dir, "image.binpb"))),
    );
    const service = registry.getService("library.v1.LibraryService")!;
    const message = (name: string) => registry.getMessage(`library.v1.${name}`)!;
    // The descriptor is only known at runtime, so the implementation is too.
    return { service, message, routes: (router) => router.service(service, implement(message) as never) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type AnyMessage = Message & Record<string, unknown>;

function implement(message: (name: string) => DescMessage) {
  const book = (init: Record<string, unknown>) => create(message("Book"), init);
  return {
    getBook: (req: AnyMessage) => {
      if (req.name === "shelves/s1/books/missing") throw new ConnectError(`book ${req.name} not found`, Code.NotFound);
      return book({ name: req.name, title: `Title of ${req.name}`, pages: 9007199254740993n });
    },
    listBooks: (req: AnyMessage) =>
      create(message("ListBooksResponse"), { books: [book({ name: `shelves/${req.shelf}/books/1` })], echo: req }),
    createBook: (req: AnyMessage) => book({ ...(req.book as object), name: `shelves/${req.shelf}/books/new` }),
    updateBook: (req: AnyMessage) => book({ ...req }),
    archiveBook: (req: AnyMessage) => book({ name: req.name, tags: ["archived"] }),
    purgeShelf: (req: AnyMessage) => create(message("PurgeShelfResponse"), { count: BigInt(String(req.shelf).length) }),
    async *watchBooks(req: AnyMessage) {
      for (let i = 1; i <= 3; i++) yield book({ name: `shelves/${req.shelf}/books/${i}` });
      throw new ConnectError("the watch ended", Code.ResourceExhausted);
    },
    async uploadScan(requests: AsyncIterable<AnyMessage>) {
      let name = "";
      let bytes = 0n;
      let messages = 0n;
      for await (const r of requests) {
        if (messages === 0n) name = r.name as string;
        bytes += BigInt((r.data as Uint8Array).byteLength);
        messages++;
      }
      return create(message("UploadScanResponse"), { name, bytes, messages });
    },
  };
}
