// The rest-api end-to-end suite, unchanged, with its content on S3 (see use-s3.ts).
import { runOnS3 } from "./use-s3.js";

await runOnS3("rest-api", () => import("../rest-api.test.js"));
