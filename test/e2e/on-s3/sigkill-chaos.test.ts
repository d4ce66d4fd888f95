// The SIGKILL chaos suite, unchanged, with its content on S3 (see use-s3.ts).
import { runOnS3 } from "./use-s3.js";

await runOnS3("sigkill-chaos", () => import("../sigkill-chaos.test.js"));
