#!/usr/bin/env -S node --import tsx
/**
 * The reference worker (docs/worker-contract.md). Locally the process runtime
 * starts one per instance with INSTANCE_ID and RESOURCE set.
 */
import { runWorkerProcess } from '../lib/agent/process.js';

process.exit(await runWorkerProcess(process.env));
