// Compiles each Vega-Lite spec given on the command line to Vega and
// renders it to SVG next to it (<name>.vl.json -> <name>.svg), headless and
// without canvas: vega's 'none' renderer produces SVG text directly.
import { readFileSync, writeFileSync } from 'node:fs';
import * as vega from 'vega';
import * as vl from 'vega-lite';

for (const file of process.argv.slice(2)) {
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  const out = file.replace(/\.vl\.json$/, '.svg');
  writeFileSync(out, svg);
  view.finalize();
  console.log(out);
}
