/**
 * A generic google.api.http transcoder for Connect services: REST/JSON routes read from the
 * methods' annotations at runtime, served by the same implementations and interceptors as gRPC and Connect, and an
 * OpenAPI document of them. It knows nothing of FilesService; it could be a package of its own.
 */
export { createTranscoder, type BeforeBodyCheck, type Transcoder, type TranscoderOptions } from "./transcoder.js";
export { routeInProcess, type InProcessCallInit, type InProcessMethod } from "./in-process-methods.js";
export { createRouteTable, RouteError, type Route, type RouteMatch, type RouteTable } from "./route-table.js";
export { parsePathTemplate, matchPathTemplate, PathTemplateError, type PathTemplate } from "./path-template.js";
export { bindRequest } from "./request-binding.js";
export { errorWithHttpStatus, restError } from "./http-errors.js";
export { messageToRestJson, stringifyRestJson } from "./rest-json.js";
export { createOpenApiDocument, type CommentSource, type OpenApiInfo } from "./openapi.js";
export {
  createDispositionPolicy,
  defaultInlineContentTypes,
  inlineContentTypeProblem,
  type DispositionPolicy,
} from "./content-disposition.js";
export { limitRequestBody, type MinimumRate, type RequestBodyLimits } from "./request-body-limits.js";
export {
  abortResponse,
  bodyChunks,
  forwardedHeaders,
  header,
  requestUrl,
  type NodeHandler,
  type NodeRequest,
  type NodeResponse,
} from "./node-http.js";
export { bodyPieces } from "./raw-body.js";
