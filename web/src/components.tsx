import { type CatalogueEntry, catalogue, zooEntries } from './lab.js';

/** A key figure: label, value, and an optional line under it. */
export function Stat({ k, v, s, testId }: { k: string; v: string; s?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <span className="k">{k}</span>
      <span className="v">{v}</span>
      {s ? <span className="s">{s}</span> : null}
    </div>
  );
}

const GROUPS = { zoo: 'zoo', example: 'examples', onnx: 'opened ONNX files' } as const;

/** The zoo models and the canon examples as a select's option groups, `first` group on top. */
export function CatalogueOptions({ first }: { first: CatalogueEntry['kind'] }) {
  const kinds: CatalogueEntry['kind'][] = first === 'zoo' ? ['zoo', 'example'] : ['example', 'zoo'];
  return (
    <>
      {kinds.map((kind) => (
        <optgroup key={kind} label={GROUPS[kind]}>
          {catalogue
            .filter((m) => m.kind === kind)
            .map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
        </optgroup>
      ))}
    </>
  );
}

/** The zoo models as a select's options. */
export function ZooOptions() {
  return (
    <>
      {zooEntries.map((m) => (
        <option key={m.name} value={m.name}>
          {m.name}
        </option>
      ))}
    </>
  );
}

/** A batch size from a query value: an integer in 1..4096, else `fallback`. */
export function batchFrom(value: string | null, fallback: number): number {
  const n = Number(value ?? fallback);
  return Number.isInteger(n) && n >= 1 && n <= 4096 ? n : fallback;
}

/** The batch size field; `onChange` gets the raw text, for the page to check with batchFrom. */
export function BatchInput({ value, onChange }: { value: number; onChange: (raw: string) => void }) {
  return (
    <label>
      batch
      <input type="number" min={1} max={4096} value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}
