/**
 * Runs the upstream binding cases (binding-cases.ts) through the real route table and bindRequest:
 * a made-up service with one POST route of the case's request type and body, the path bindings
 * as the matcher would hand them over, the query as the transcoder parses it.
 */
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { bindRequest } from "../../../../src/transcoding/request-binding.js";
import { createRouteTable, RouteError } from "../../../../src/transcoding/route-table.js";
import { type BindingCase, type BindingOutcome, bindingCases } from "./binding-cases.js";
import { syntheticService } from "./synthetic-service.js";

function outcome(c: BindingCase): BindingOutcome {
  let table: ReturnType<typeof createRouteTable>;
  try {
    table = createRouteTable(
      syntheticService([{ httpMethod: "POST", template: "/x", body: c.body, input: c.input }]).methods,
    );
  } catch (err) {
    if (err instanceof RouteError) return "route refused";
    throw err;
  }
  const match = table.match("POST", "/x");
  if (match.kind !== "found") throw new Error("the one route must match");
  try {
    const message = bindRequest(match.route, {
      bindings: new Map(Object.entries(c.path ?? {})),
      query: new URLSearchParams(c.query ?? ""),
      header: () => undefined,
      // A copy: binding may write into the body it is given.
      body: c.json === undefined ? undefined : structuredClone(c.json),
    });
    return toJson(match.route.method.input, message) as BindingOutcome;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.InvalidArgument) return "INVALID_ARGUMENT";
    throw err;
  }
}

describe("google.api.http request binding (grpc-httpjson-transcoding translator and query tests)", () => {
  const conforming = bindingCases.filter((c) => !c.deviation);
  const deviating = bindingCases.filter((c) => c.deviation);

  test.each(conforming.map((c) => [c.id, c] as const))("%s", (_, c) => {
    expect(outcome(c)).toEqual(c.expected);
  });

  test.each(deviating.map((c) => [c.id, c] as const))("deviation: %s", (_, c) => {
    expect(c.actual).not.toEqual(c.expected); // else it is no longer a deviation
    expect(outcome(c)).toEqual(c.actual);
  });
});
