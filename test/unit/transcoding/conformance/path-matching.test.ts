/**
 * Runs the upstream path-matching cases (path-matching-cases.ts) against the real route table:
 * each case's routes become a made-up service (one method per route), each lookup goes through
 * RouteTable.match with the path split from the query as the transcoder splits it.
 */
import { createRouteTable, RouteError, type RouteTable } from "../../../../src/transcoding/route-table.js";
import { type MatchOutcome, type MatcherCase, type MatcherRoute, matcherCases } from "./path-matching-cases.js";
import { syntheticService } from "./synthetic-service.js";

const tableOf = (routes: readonly MatcherRoute[]) =>
  createRouteTable(
    syntheticService(routes.map((r) => ({ httpMethod: r.method, template: r.template, body: r.body }))).methods,
  );

/** What our table answers, in the data's terms (routes named as in the case). */
function answer(table: RouteTable, routes: readonly MatcherRoute[], method: string, target: string): MatchOutcome {
  const q = target.indexOf("?");
  const match = table.match(method, q < 0 ? target : target.slice(0, q));
  if (match.kind !== "found") return null;
  const route = routes[Number(match.route.method.name.slice(1))];
  const body = match.route.body ? { body: match.route.body } : {};
  return { route: route.name, bindings: Object.fromEntries(match.bindings), ...body };
}

/** Upstream's name for a lookup: the case, the method when not GET, and the path (cut when long). */
const label = (c: MatcherCase, method: string, path: string) =>
  `${c.id} ${method === "GET" ? "" : `${method} `}${path.length > 60 ? `${path.slice(0, 40)}…(${path.length} chars)` : path}`;

describe("google.api.http path matching (grpc-httpjson-transcoding path_matcher_test)", () => {
  for (const c of matcherCases) {
    if (c.refusedTable) {
      test(`deviation: ${c.id} (the route set is refused)`, () => {
        expect(() => tableOf(c.routes)).toThrow(RouteError);
      });
      continue;
    }
    const refused = c.routes.filter((r) => r.refused);
    const served = c.routes.filter((r) => !r.refused);
    for (const r of refused)
      test(`deviation: ${c.id} refuses ${r.template}`, () => {
        expect(() => tableOf([r])).toThrow(RouteError);
      });
    // Served routes keep their index in the case, so answers name the right route.
    const routes = c.routes.map((r) => (r.refused ? undefined : r));
    const table = tableOf(served);
    const byIndex = served;
    for (const l of c.lookups) {
      const name = label(c, l.method, l.path);
      if (l.deviation) {
        test(`deviation: ${name}`, () => {
          expect(l.actual).not.toEqual(l.expected); // else it is no longer a deviation
          expect(answer(table, byIndex, l.method, l.path)).toEqual(l.actual);
        });
      } else {
        test(name, () => {
          expect(answer(table, byIndex, l.method, l.path)).toEqual(l.expected);
          if (l.expected === null && routes.some((r) => r && r.template === l.path))
            expect(table.match(l.method, l.path).kind).toBe("method_not_allowed");
        });
      }
    }
  }
});
