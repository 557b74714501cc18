import { benchMemory } from './dist/test/bench/memory.js';
const figs = await benchMemory(2000, Number(process.argv[2] ?? 300), true);
console.log(JSON.stringify(figs, null, 1));
