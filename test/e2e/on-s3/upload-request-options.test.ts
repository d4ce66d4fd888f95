// The upload request options suite, unchanged, with its content on S3 (see use-s3.ts): a refused
// checksum request after whole parts were sent, and a completion deferred at the declared size.
import { runOnS3 } from "./use-s3.js";

await runOnS3("upload-request-options", () => import("../upload-request-options.test.js"));
