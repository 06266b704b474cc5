import './style.css';
import { StrictMode, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import { ConceptsPage } from './pages/Concepts.js';
import { FieldPage } from './pages/Field.js';
import { MemoryPage } from './pages/Memory.js';
import { ModelPage } from './pages/Model.js';
import { SpecPage } from './pages/Spec.js';
import { ZooPage } from './pages/Zoo.js';
import { Link, type Route, useRoute } from './router.js';

/** Sections; `short` is the label on a phone, where all six must fit across. */
const NAV: readonly { href: string; label: string; short: string; section: string }[] = [
  { href: '/', label: 'Zoo', short: 'Zoo', section: 'zoo' },
  { href: '/model/resnet50', label: 'Model', short: 'Model', section: 'model' },
  { href: '/rf/vgg16', label: 'Receptive field', short: 'Field', section: 'rf' },
  { href: '/memory', label: 'Memory', short: 'Memory', section: 'memory' },
  { href: '/concepts', label: 'Concepts', short: 'Ideas', section: 'concepts' },
  { href: '/spec', label: 'Spec editor', short: 'Spec', section: 'spec' },
];

function page(route: Route) {
  const [section = 'zoo', name] = route.segments;
  switch (section) {
    case 'zoo':
      return { title: 'Zoo', view: <ZooPage route={route} /> };
    case 'model':
      return { title: name ?? 'Model', view: <ModelPage route={route} name={name ?? 'resnet50'} /> };
    case 'rf':
      return {
        title: `Receptive field · ${name ?? 'vgg16'}`,
        view: <FieldPage route={route} name={name ?? 'vgg16'} />,
      };
    case 'memory':
      return { title: 'Memory', view: <MemoryPage route={route} /> };
    case 'concepts':
      return { title: 'Concepts', view: <ConceptsPage id={name} /> };
    case 'spec':
      return { title: 'Spec editor', view: <SpecPage route={route} /> };
    default:
      return {
        title: 'Not found',
        view: (
          <div className="panel">
            <h1>Nothing here</h1>
            <p>
              There is no page at <code>{route.href}</code>. Start from the <Link href="/">zoo</Link>.
            </p>
          </div>
        ),
      };
  }
}

function App() {
  const route = useRoute();
  const section = route.segments[0] ?? 'zoo';
  const { title, view } = page(route);
  useEffect(() => {
    document.title = `${title} · convlab lab`;
  }, [title]);
  return (
    <>
      <header className="top">
        <div className="top-inner">
          <Link className="brand" href="/">
            convlab <small>lab</small>
          </Link>
          <nav className="nav" aria-label="Sections">
            {NAV.map((n) => (
              <Link
                key={n.section}
                href={n.href}
                aria-label={n.label}
                aria-current={section === n.section ? 'page' : undefined}
              >
                <span className="long">{n.label}</span>
                <span className="short">{n.short}</span>
              </Link>
            ))}
          </nav>
        </div>
      </header>
      <main>{view}</main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
