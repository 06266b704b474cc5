import { type ChangeEvent, useState } from 'react';
import { importOnnx } from '../../../src/import/onnx.js';
import { memorySource } from '../../../src/import/source.js';
import { addImported } from '../lab.js';
import { hrefOf, navigate } from '../router.js';

/** `CxHxW` as the CLI's --input takes it, or undefined when empty. */
function parseInput(text: string): [number, number, number] | undefined {
  if (!text.trim()) return undefined;
  const parts = text.split(/[x,]/i).map(Number);
  if (parts.length !== 3 || !parts.every((p) => Number.isInteger(p) && p >= 1)) {
    throw new Error(`input must be CxHxW with positive integers (e.g. 3x224x224), got '${text}'`);
  }
  return parts as [number, number, number];
}

/**
 * Open an .onnx file from disk and go to its model page. The file is read and imported in this
 * page (src/import is browser-safe); nothing is uploaded. Weights are not read: the model page
 * needs only the graph. Files that keep weights as external data open too, for the same reason.
 */
export function OpenOnnx() {
  const [input, setInput] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const open = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const shape = parseInput(input);
      const model = importOnnx(memorySource(bytes, `'${file.name}'`), {
        name: file.name.replace(/\.onnx$/i, ''),
        ...(shape && { input: shape }),
      });
      navigate(hrefOf(`/model/${encodeURIComponent(addImported(file.name, model.graph))}`));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <label title="read in this page, never uploaded">
        open an ONNX file
        <input type="file" accept=".onnx" aria-label="open an ONNX file" disabled={busy} onChange={open} />
      </label>
      <label title="C x H x W, for a file whose input size is symbolic">
        input
        <input
          type="text"
          placeholder="3x224x224"
          size={10}
          value={input}
          aria-label="input size for the ONNX file"
          onChange={(e) => setInput(e.target.value)}
        />
      </label>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </>
  );
}
