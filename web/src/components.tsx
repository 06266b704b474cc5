import { type CatalogueEntry, catalogue } from './lab.js';

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

const GROUPS = { zoo: 'zoo', example: 'examples' } as const;

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
