import { benchMemory } from './dist/test/bench/memory.js';
import { printFigures } from './dist/test/bench/measure.js';
printFigures('memory of flowkeeper demo at 20,000 flows/s over 240 s', await benchMemory(20000, 240));
