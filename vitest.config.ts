import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Quiet unless asked: the product reads LOG_LEVEL like any other setting (children spawned by tests inherit it).
    env: { LOG_LEVEL: process.env.LOG_LEVEL || 'silent' },
    pool: 'forks',
    // Two cores: a few files at once keeps the multi-process tests honest without starving ZooKeeper.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
