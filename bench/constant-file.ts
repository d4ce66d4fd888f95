/**
 * The File the constant Connect handler (bench/constant-files-server.ts) answers to every GetFile:
 * shaped like the one the service answers in the metadata rows, so that the bytes on the wire are alike.
 */
import { create } from "@bufbuild/protobuf";
import { FileSchema } from "../gen/files/v1/files_pb.js";

/** The fixed answer of the constant handler. */
export const constantFile = create(FileSchema, {
  bucket: "bench",
  key: "metadata.bin",
  mimeType: "application/octet-stream",
  url: "http://127.0.0.1:8321/v1/files/bench/metadata.bin:content",
  bytes: 1024n,
  createdAt: 1737492240n,
  sha256: "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
});
