// The download-headers end-to-end suite, unchanged, with its content on S3 (see use-s3.ts).
import { runOnS3 } from "./use-s3.js";

await runOnS3("download-headers", () => import("../download-headers.test.js"));
