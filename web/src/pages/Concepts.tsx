import { CONCEPTS } from '../concepts/index.js';
import { useProgressive } from '../hooks.js';
import { hrefOf, Link } from '../router.js';

const IDS = CONCEPTS.map((c) => c.id);
const headline = (id: string): string => CONCEPTS.find((c) => c.id === id)!.headline();

export function ConceptsPage({ id }: { id: string | undefined }) {
  if (id) return <ConceptPage id={id} />;
  return <ConceptIndex />;
}

function ConceptIndex() {
  const figures = useProgressive(IDS, headline);
  return (
    <>
      <h1>Concepts</h1>
      <p className="lede">
        The design choices of the CNN canon, one page each. Every claim is computed live, here, on the real
        layers of the zoo models (or on small networks built at their sizes with the same blocks), with the
        same passes as the rest of convlab.
      </p>
      <div className="concept-grid" data-ready={figures.size === IDS.length}>
        {CONCEPTS.map((c, k) => {
          const at = c.links[0]!;
          return (
            <article key={c.id} className="panel concept-card" data-testid="concept-card">
              <span className="muted" style={{ fontSize: '0.78rem' }}>
                {String(k + 1).padStart(2, '0')}
              </span>
              <h3>
                <Link href={`/concepts/${c.id}`}>{c.title}</Link>
              </h3>
              <p className="claim">{c.claim}</p>
              <span className="figure">{figures.get(c.id) ?? '…'}</span>
              <Link className="at" href={hrefOf(`/model/${at.model}`, { layer: at.layer })}>
                {at.model} <code>{at.layer}</code> →
              </Link>
            </article>
          );
        })}
      </div>
    </>
  );
}

function ConceptPage({ id }: { id: string }) {
  const at = CONCEPTS.findIndex((c) => c.id === id);
  const c = CONCEPTS[at];
  if (!c) {
    return (
      <div className="panel">
        <h1>No concept '{id}'</h1>
        <p>
          See the <Link href="/concepts">list of concepts</Link>.
        </p>
      </div>
    );
  }
  const prev = CONCEPTS[at - 1];
  const next = CONCEPTS[at + 1];
  const { Body } = c;
  return (
    <article>
      <p className="muted" style={{ margin: 0, fontSize: '0.85rem' }}>
        <Link href="/concepts">Concepts</Link> · {at + 1} of {CONCEPTS.length}
      </p>
      <h1>{c.title}</h1>
      <div className="claim-box">
        <strong>Claim.</strong> {c.claim}
      </div>
      <div className="concept-body">
        <Body />
      </div>
      <h2>In the model view</h2>
      <ul className="concept-links">
        {c.links.map((l) => (
          <li key={`${l.model}/${l.layer}`}>
            <Link href={hrefOf(`/model/${l.model}`, { layer: l.layer })}>{l.label}</Link>{' '}
            <span className="muted mono">
              {l.model} {l.layer}
            </span>
          </li>
        ))}
      </ul>
      <nav className="concept-nav" aria-label="other concepts">
        {prev ? <Link href={`/concepts/${prev.id}`}>← {prev.title}</Link> : <span />}
        {next ? <Link href={`/concepts/${next.id}`}>{next.title} →</Link> : <span />}
      </nav>
    </article>
  );
}
