#!/usr/bin/env node
/**
 * The `files` command: uploads, downloads and the other calls of the service from a shell. Wires
 * commander to one module per command, and turns every outcome into an exit code (exit-codes.ts) and
 * at most one error line on stderr, `files: error: <what happened> (<code>)`.
 */
import { Command, CommanderError, Option } from "commander";
import { createFilesClient, type FilesClient, type FilesProtocol } from "../client/index.js";
import { bucketsCommand } from "./buckets-command.js";
import { downloadCommand } from "./download-command.js";
import { errorLine, ExitCode, exitCodeOf, UsageError } from "./exit-codes.js";
import { infoCommand } from "./info-command.js";
import { lsCommand } from "./ls-command.js";
import { createProgress } from "./progress.js";
import { rmCommand } from "./rm-command.js";
import { uploadCommand } from "./upload-command.js";
import { openUploadState } from "./upload-state.js";

interface GlobalOptions {
  url: string;
  apiKey?: string;
  protocol: FilesProtocol;
  json: boolean;
  progress: boolean;
}

// Ctrl-C stops every transfer cleanly (the server keeps what arrived), so that the same command
// resumes; a second Ctrl-C does not wait for that.
const interrupt = new AbortController();
process.once("SIGINT", () => {
  interrupt.abort();
  process.once("SIGINT", () => process.exit(ExitCode.INTERRUPTED));
});

const program = new Command("files")
  .description("Upload, download and manage files of a files-service")
  .addOption(new Option("--url <url>", "the service's base URL").env("FILES_URL").default("http://127.0.0.1:8321"))
  .addOption(new Option("--api-key <key>", "API key, sent as a Bearer token").env("FILES_API_KEY"))
  .addOption(
    new Option("--protocol <protocol>", "wire protocol (connect and grpc-web over HTTP/1.1)")
      .choices(["grpc", "connect", "grpc-web"])
      .env("FILES_PROTOCOL")
      .default("grpc"),
  )
  .option("--json", "print results as JSON on stdout", false)
  .option("--no-progress", "no progress bars (there are none unless stderr is a terminal)")
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`files: ${text}`) });

program
  .command("upload")
  .description("upload files to bucket[/prefix]/<file name>; run it again to resume")
  .argument("<paths...>", "files to upload, then the destination bucket[/prefix]")
  .option("-p, --parallel <n>", "files uploaded at once", parseCount, 4)
  .option("--mime-type <type>", "media type of every file (default: from the extension)")
  .option("--sha256", "compute each file's SHA-256 first and have the server check it", false)
  .action(async (args: string[], options: { parallel: number; mimeType?: string; sha256: boolean }, command) => {
    if (args.length < 2) throw new UsageError("upload needs at least one PATH and a bucket[/prefix]");
    const global = globals(command);
    await uploadCommand(
      args.slice(0, -1),
      args[args.length - 1],
      { ...options, url: global.url, json: global.json },
      {
        client: client(global),
        state: openUploadState(),
        progress: createProgress(global.progress && process.stderr.isTTY === true),
        signal: interrupt.signal,
      },
    );
  });

program
  .command("download")
  .description("download bucket/key to PATH (default: its name here); run it again to resume")
  .argument("<bucket/key>")
  .argument("[path]")
  .action(async (source: string, destination: string | undefined, _options, command) => {
    const global = globals(command);
    await downloadCommand(source, destination, global, {
      client: client(global),
      progress: createProgress(global.progress && process.stderr.isTTY === true),
      signal: interrupt.signal,
    });
  });

program
  .command("ls")
  .description("list the files of a bucket (under a prefix), or the buckets")
  .argument("[bucket[/prefix]]")
  .action((target: string | undefined, _options, command) =>
    lsCommand(target, globals(command), client(globals(command))),
  );

program
  .command("info")
  .description("show a file's metadata")
  .argument("<bucket/key>")
  .action((target: string, _options, command) => infoCommand(target, globals(command), client(globals(command))));

program
  .command("rm")
  .description("delete a file")
  .argument("<bucket/key>")
  .action((target: string, _options, command) => rmCommand(target, globals(command), client(globals(command))));

program
  .command("buckets")
  .description("list the buckets")
  .action((_options, command) => bucketsCommand(globals(command), client(globals(command))));

function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

function client(options: GlobalOptions): FilesClient {
  try {
    new URL(options.url);
  } catch {
    throw new UsageError(`--url / FILES_URL: "${options.url}" is not a URL`);
  }
  return createFilesClient({
    baseUrl: options.url,
    apiKey: options.apiKey,
    protocol: options.protocol,
    httpVersion: options.protocol === "grpc" ? "2" : "1.1",
  });
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--parallel: "${text}" is not a whole number of at least 1`);
  return n;
}

try {
  await program.parseAsync();
  process.exit(ExitCode.OK);
} catch (err) {
  // Commander has printed its own message (usage errors) or the help already.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE);
  if (interrupt.signal.aborted) {
    process.stderr.write("files: interrupted; run the same command again to resume\n");
    process.exit(ExitCode.INTERRUPTED);
  }
  process.stderr.write(`files: error: ${errorLine(err)}\n`);
  process.exit(exitCodeOf(err));
}
