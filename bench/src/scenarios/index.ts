/** The scenarios, in the order they run. To add one, write a module exporting a `Scenario` and list it here. */
import { clusterScenario } from './cluster.js';
import { coldWarmScenario } from './coldwarm.js';
import { latencyScenario } from './latency.js';
import { profileScenario } from './profile.js';
import { rootScenario } from './root.js';
import { scaleScenario } from './scale.js';
import { slowScenario } from './slow.js';
import { throughputScenario } from './throughput.js';
import type { Scenario } from './types.js';

export const scenarios: readonly Scenario[] = [throughputScenario, latencyScenario, scaleScenario, slowScenario, coldWarmScenario, clusterScenario, profileScenario, rootScenario];
