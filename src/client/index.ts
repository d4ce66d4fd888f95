/**
 * The public face of `files-service/client`: a FilesService client whose uploads and downloads
 * resume across broken connections. Everything else here is internal.
 */
export type { File, UploadSession } from "../../gen/files/v1/files_pb.js";
export { type DownloadOptions, type DownloadProgress, downloadFile, partPath } from "./download-file.js";
export {
  createFilesClient,
  createFilesTransport,
  type FilesClient,
  type FilesClientOptions,
  type FilesProtocol,
} from "./files-client.js";
export { defaultRetryPolicy, type RetryEvent, type RetryPolicy } from "./retry-policy.js";
export { type UploadOptions, type UploadProgress, uploadFile } from "./upload-file.js";
export { type UploadInput, UploadSourceError } from "./upload-source.js";
