// The vendored uPlot module (served from uplot/dist/uPlot.esm.js) has uPlot's own types.
export { default } from 'uplot';
