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
