import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Debian's python3 with python3-onnx: the independent reader every export is checked with. */
export const PYTHON = '/usr/bin/python3';

/** What Debian's python3-onnx reads from a file: the checker's verdict and the graph's interface. */
export interface Checked {
  error: string | null;
  ir: number;
  opset: number[];
  initializers: string[];
  inputs: [string, (number | string)[]][];
  outputs: [string, (number | string)[]][];
  ops: string[];
}

const CHECK = `
import json, sys, onnx
out = []
for path in sys.argv[1:]:
    m = onnx.load(path)
    try:
        onnx.checker.check_model(m, full_check=True)
        error = None
    except Exception as e:
        error = str(e)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out.append({
        "error": error, "ir": m.ir_version, "opset": [o.version for o in m.opset_import],
        "initializers": [t.name for t in m.graph.initializer],
        "inputs": [[v.name, dims(v)] for v in m.graph.input],
        "outputs": [[v.name, dims(v)] for v in m.graph.output],
        "ops": sorted({n.op_type for n in m.graph.node}),
    })
print(json.dumps(out))
`;

/**
 * onnx.checker.check_model (full check: shape inference included) on each file (written into `dir`), in one python
 * process, run asynchronously so the test worker keeps answering vitest while python reads a VGG.
 */
export async function checkOnnx(dir: string, ...files: Uint8Array[]): Promise<Checked[]> {
  const paths = files.map((bytes, i) => {
    const path = join(dir, `check-${process.pid}-${i}.onnx`);
    writeFileSync(path, bytes);
    return path;
  });
  try {
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', CHECK, ...paths], { maxBuffer: 64 << 20 });
    return JSON.parse(stdout) as Checked[];
  } catch (e) {
    throw new Error(
      `python3-onnx failed (is python3-onnx installed?): ${(e as { stderr?: string }).stderr ?? e}`,
    );
  } finally {
    for (const path of paths) rmSync(path, { force: true });
  }
}
