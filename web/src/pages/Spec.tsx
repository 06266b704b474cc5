import { type RefObject, type UIEvent, useDeferredValue, useMemo, useRef, useState } from 'react';
import { analyseMemory } from '../../../src/analysis/memory.js';
import { receptiveFields } from '../../../src/analysis/receptive_field.js';
import { summarise } from '../../../src/analysis/summary.js';
import { ConvlabError, GraphError } from '../../../src/ir/errors.js';
import type { Graph } from '../../../src/ir/graph.js';
import { resolveGraph } from '../../../src/ir/resolve.js';
import { parseSpec, toSpec } from '../../../src/ir/spec.js';
import { CatalogueOptions, Stat } from '../components.js';
import { bytes, dims, metric, pair, thousands } from '../format.js';
import { findEntry, graphOf, lastSpatialField } from '../lab.js';
import { type Route, setQuery } from '../router.js';
import { formatSpec, lineOf, type Scan, scanSpec } from '../specText.js';

const DEFAULT_START = 'inception_3a_reduced';
const DRAFT = 'convlab-lab-spec';

function startText(name: string): string {
  const entry = findEntry(name) ?? findEntry(DEFAULT_START)!;
  if (entry.kind === 'example') return entry.spec!.endsWith('\n') ? entry.spec! : `${entry.spec}\n`;
  return formatSpec(toSpec(graphOf(entry)));
}

interface Problem {
  readonly message: string;
  /** 0-based line in the text, when the error can be placed. */
  readonly line: number | null;
  readonly node: string | null;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The line of a node's definition: by its name, or by its position for unnamed nodes (`conv2d_3`). */
function nodeLine(text: string, scan: Scan, node: string): number | null {
  const named = new RegExp(`"name"\\s*:\\s*${escapeRegExp(JSON.stringify(node))}`).exec(text);
  if (named) return lineOf(text, named.index);
  const auto = /_(\d+)$/.exec(node);
  const start = auto ? scan.nodes[Number(auto[1]) - 1] : undefined;
  return start === undefined ? null : lineOf(text, start);
}

function locate(text: string, scan: Scan, e: unknown): Problem {
  const message = e instanceof Error ? e.message : String(e);
  if (scan.error !== null) return { message, line: lineOf(text, scan.error), node: null };
  if (e instanceof GraphError) {
    if (e.op === 'output') {
      return { message, line: scan.outputs === null ? null : lineOf(text, scan.outputs), node: e.node };
    }
    return { message, line: nodeLine(text, scan, e.node), node: e.node };
  }
  const byIndex = /node #(\d+)/.exec(message);
  if (byIndex) {
    const start = scan.nodes[Number(byIndex[1]) - 1];
    return { message, line: start === undefined ? null : lineOf(text, start), node: null };
  }
  const byName = /node '([^']+)'/.exec(message);
  if (byName) return { message, line: nodeLine(text, scan, byName[1]!), node: byName[1]! };
  if (/output '/.test(message) || /'outputs'/.test(message)) {
    return { message, line: scan.outputs === null ? null : lineOf(text, scan.outputs), node: null };
  }
  const key = /'(input|name|nodes)'/.exec(message);
  if (key) {
    const at = text.indexOf(`"${key[1]}"`);
    return { message, line: at < 0 ? null : lineOf(text, at), node: null };
  }
  return { message, line: null, node: null };
}

function check(text: string) {
  const scan = scanSpec(text);
  try {
    const graph = parseSpec(text, 'in the editor');
    const r = resolveGraph(graph);
    const summary = summarise(r);
    const field = lastSpatialField(receptiveFields(r));
    const infer = analyseMemory(r, { mode: 'infer' });
    const train = analyseMemory(r, { mode: 'train' });
    return { ok: true as const, graph, summary, field, infer, train };
  } catch (e) {
    if (!(e instanceof ConvlabError) && !(e instanceof SyntaxError)) {
      return {
        ok: false as const,
        problem: { message: `internal error: ${(e as Error).message}`, line: null, node: null },
      };
    }
    return { ok: false as const, problem: locate(text, scan, e) };
  }
}

function download(name: string, data: BlobPart, type: string) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

type Checked = ReturnType<typeof check>;
type Valid = Extract<Checked, { ok: true }>;

export function SpecPage({ route }: { route: Route }) {
  const from = route.query.get('from') ?? DEFAULT_START;
  const [text, setText] = useState(() => sessionStorage.getItem(`${DRAFT}:${from}`) ?? startText(from));
  const deferred = useDeferredValue(text);
  const result = useMemo(() => check(deferred), [deferred]);
  // While the text is broken, the last valid summary stays up, dimmed, so the numbers do not jump away.
  const lastGood = useRef<Valid | null>(null);
  if (result.ok) lastGood.current = result;
  const good = result.ok ? result : lastGood.current;
  const area = useRef<HTMLTextAreaElement>(null);

  const edit = (value: string) => {
    setText(value);
    sessionStorage.setItem(`${DRAFT}:${from}`, value);
  };
  const start = (name: string) => {
    sessionStorage.removeItem(`${DRAFT}:${name}`);
    setText(startText(name));
    setQuery({ from: name === DEFAULT_START ? null : name });
  };
  const goTo = (line: number) => {
    const t = area.current;
    if (!t) return;
    const lines = text.split('\n');
    const offset = lines.slice(0, line).reduce((s, l) => s + l.length + 1, 0);
    t.focus();
    t.setSelectionRange(offset, offset + (lines[line]?.length ?? 0));
    t.scrollTop = Math.max(0, line * 18 - t.clientHeight / 3);
  };
  const badLine = !result.ok && deferred === text ? result.problem.line : null;

  return (
    <>
      <h1>Spec editor</h1>
      <p className="lede">
        A model as JSON: <code>{'{ "name", "input": [C, H, W], "nodes": [...] }'}</code>, one node per line
        with its op, its inputs (default: the node before) and its attributes. Every change is validated, and
        an error is shown at the node that breaks a rule.
      </p>
      <div className="controls">
        <label>
          start from
          <select value={findEntry(from) ? from : DEFAULT_START} onChange={(e) => start(e.target.value)}>
            <CatalogueOptions first="example" />
          </select>
        </label>
        <button type="button" onClick={() => start(from)}>
          Revert
        </button>
      </div>
      <div className="spec-layout">
        <SpecText text={text} badLine={badLine} invalid={!result.ok} area={area} onEdit={edit} />
        <div>
          <SpecStatus result={result} onGoTo={goTo} />
          {good ? (
            <SpecFigures good={good} stale={!result.ok} text={text} graph={result.ok ? result.graph : null} />
          ) : null}
        </div>
      </div>
    </>
  );
}

/** The text area with line numbers, and the broken line highlighted behind the text. */
function SpecText({
  text,
  badLine,
  invalid,
  area,
  onEdit,
}: {
  text: string;
  badLine: number | null;
  invalid: boolean;
  area: RefObject<HTMLTextAreaElement | null>;
  onEdit: (value: string) => void;
}) {
  const gutter = useRef<HTMLDivElement>(null);
  const backdrop = useRef<HTMLDivElement>(null);
  const sync = (e: UIEvent<HTMLTextAreaElement>) => {
    const t = e.currentTarget;
    if (gutter.current) gutter.current.scrollTop = t.scrollTop;
    if (backdrop.current) {
      backdrop.current.scrollTop = t.scrollTop;
      backdrop.current.scrollLeft = t.scrollLeft;
    }
  };
  const lines = text.split('\n');
  return (
    <div className="editor">
      <div className="gutter" ref={gutter} aria-hidden="true">
        {lines.map((_, k) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: line numbers are positions.
          <div key={k} className={k === badLine ? 'bad' : undefined}>
            {k + 1}
          </div>
        ))}
        <div style={{ height: 200 }} />
      </div>
      <div className="body">
        <div className="backdrop" ref={backdrop} aria-hidden="true">
          {badLine !== null ? (
            <>
              {'\n'.repeat(badLine)}
              <span className="bad">{lines[badLine] || ' '}</span>
            </>
          ) : null}
        </div>
        <textarea
          ref={area}
          value={text}
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          wrap="off"
          aria-label="JSON spec"
          aria-invalid={invalid}
          data-testid="spec-text"
          onChange={(e) => onEdit(e.target.value)}
          onScroll={sync}
        />
      </div>
    </div>
  );
}

/** Valid, with the layer count; or the error, placed at its line when it can be. */
function SpecStatus({ result, onGoTo }: { result: Checked; onGoTo: (line: number) => void }) {
  return (
    <div className="spec-status">
      {result.ok ? (
        <div className="ok" data-testid="spec-ok">
          ✓ valid: {result.summary.layers.length} layers, input {result.summary.input.slice(1).join('×')}
        </div>
      ) : (
        <div className="error" role="alert" data-testid="spec-error">
          <strong>
            {result.problem.line !== null ? `Line ${result.problem.line + 1}` : 'Error'}
            {result.problem.node ? `, node ${result.problem.node}` : ''}:
          </strong>{' '}
          {result.problem.message}
          {result.problem.line !== null ? (
            <div style={{ marginTop: '0.4rem' }}>
              <button type="button" onClick={() => onGoTo(result.problem.line!)}>
                Go to line {result.problem.line + 1}
              </button>
            </div>
          ) : null}
        </div>
      )}
    </div>
  );
}

/** The figures of the last valid spec (dimmed while the text is broken), its downloads and layers. */
function SpecFigures({
  good,
  stale,
  text,
  graph,
}: {
  good: Valid;
  stale: boolean;
  text: string;
  graph: Graph | null;
}) {
  return (
    <div className={stale ? 'stale' : undefined}>
      {stale ? <p className="muted">The last valid version of the spec:</p> : null}
      <div className="stats" style={{ marginTop: 0 }} data-testid="spec-summary">
        <Stat k="parameters" v={thousands(good.summary.totals.params)} />
        <Stat k="MACs" v={metric(good.summary.totals.macs)} s={thousands(good.summary.totals.macs)} />
        <Stat k="receptive field" v={pair(good.field.size)} s={`at ${good.field.name}`} />
        <Stat k="activations" v={bytes(good.summary.totals.activationBytes)} s="per image" />
        <Stat k="inference peak" v={bytes(good.infer.bytes.peak)} s="batch 1" />
        <Stat k="training peak" v={bytes(good.train.bytes.peak)} s="batch 1, SGD" />
      </div>
      <SpecDownloads name={good.graph.name} text={text} graph={graph} />
      <p className="muted" style={{ fontSize: '0.82rem' }}>
        The ONNX file is the inference graph (opset 17) with freshly initialised weights, as{' '}
        <code>convlab export</code> writes it.
      </p>
      <SpecLayers layers={good.summary.layers} />
    </div>
  );
}

/** The spec as JSON, and (while it is valid) the model as ONNX. */
function SpecDownloads({ name, text, graph }: { name: string; text: string; graph: Graph | null }) {
  const [exporting, setExporting] = useState<string | null>(null);
  const exportModel = async () => {
    if (!graph) return;
    setExporting('exporting…');
    try {
      // The exporter (and its weight initialisers) loads only when someone asks for a file.
      const { exportOnnx } = await import('../../../src/onnx/export.js');
      const bytes = exportOnnx(graph, { mode: 'infer' }) as Uint8Array<ArrayBuffer>;
      download(`${graph.name}.onnx`, bytes, 'application/octet-stream');
      setExporting(null);
    } catch (e) {
      setExporting(`export failed: ${(e as Error).message}`);
    }
  };
  return (
    <div className="spec-actions">
      <button type="button" onClick={() => download(`${name}.json`, text, 'application/json')}>
        Download spec
      </button>
      <button
        type="button"
        className="primary"
        onClick={exportModel}
        disabled={!graph || exporting === 'exporting…'}
      >
        Download ONNX
      </button>
      {exporting ? <span className="muted">{exporting}</span> : null}
    </div>
  );
}

function SpecLayers({ layers }: { layers: Valid['summary']['layers'] }) {
  return (
    <div className="table-wrap" style={{ maxHeight: '50vh', overflow: 'auto', marginTop: '0.8rem' }}>
      <table className="data">
        <thead>
          <tr>
            <th>layer</th>
            <th>op</th>
            <th>output</th>
            <th className="num">params</th>
            <th className="num">MACs</th>
          </tr>
        </thead>
        <tbody>
          {layers.map((l) => (
            <tr key={l.name}>
              <td className="mono">{l.name}</td>
              <td>{l.op}</td>
              <td className="mono">{dims(l.outShape)}</td>
              <td className="num">{l.params ? thousands(l.params) : ''}</td>
              <td className="num">{l.macs ? metric(l.macs) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
