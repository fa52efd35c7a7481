import { randomBytes } from 'node:crypto';

/** A fresh ZooKeeper root per suite, so suites can share one server. */
export const uniqueRoot = (label: string): string => `/test-${label}-${randomBytes(4).toString('hex')}/iota`;
