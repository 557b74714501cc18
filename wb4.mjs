import { benchMetricsCost } from './dist/test/bench/metrics-cost.js';
for (let i = 0; i < 2; i++) console.log(benchMetricsCost(600_000)[0].note);
