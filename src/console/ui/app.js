// The console's shell: sign-in, the navigation between the pages, which page shows, and the
// organization it shows, named in the header and the title. The token's scopes and
// organizations (GET /v1/token) decide what each page enables and offers.
import { api, session } from './api.js';
import { currentRoute, html, mayLeave, navigate, orgOf, render, useEffect, useState } from './lib.js';
import { SignIn } from './pages/signin.js';
import { SettingsPage } from './pages/settings.js';
import { ExplorerPage } from './pages/explorer.js';
import { WhatIfPage } from './pages/whatif.js';
import { PlaygroundPage } from './pages/playground.js';

const PAGES = [
  { id: 'settings', title: 'Security settings', component: SettingsPage },
  { id: 'explorer', title: 'Decision explorer', component: ExplorerPage },
  { id: 'whatif', title: 'What-if', component: WhatIfPage },
  { id: 'playground', title: 'Playground', component: PlaygroundPage },
];

/** The route of the URL, on every change of it (links, back/forward, typed). Leaving unsaved edits asks first; staying puts the URL back. */
function useRoute() {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    let shown = location.hash;
    const update = () => {
      if (location.hash === shown) return;
      const was = currentRoute(shown);
      const next = currentRoute();
      if ((next.page !== was.page || orgOf(next.params) !== orgOf(was.params)) && !mayLeave()) {
        history.replaceState(null, '', shown || location.pathname);
        return;
      }
      shown = location.hash;
      setRoute(next);
    };
    addEventListener('hashchange', update);
    addEventListener('popstate', update);
    return () => {
      removeEventListener('hashchange', update);
      removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** A page's link, keeping the organization shown (the playground's organizations are in its input). */
const pageLink = (id, orgId) => (orgId && id !== 'playground' ? `#/${id}?${new URLSearchParams({ orgId })}` : `#/${id}`);

function App() {
  const route = useRoute();
  const [who, setWho] = useState(null);
  const [checking, setChecking] = useState(Boolean(session.token));

  useEffect(() => {
    if (!session.token) return;
    api
      .whoami()
      .then(setWho)
      .catch(() => (session.token = null))
      .finally(() => setChecking(false));
  }, []);

  const page = PAGES.find((p) => p.id === route.page) ?? PAGES[0];
  // The playground's organizations are in its input, not in the URL's orgId.
  const orgId = page.id === 'playground' ? null : (orgOf(route.params) ?? (who?.orgs?.length === 1 ? who.orgs[0] : null));
  useEffect(() => {
    document.title = `${page.title}${orgId ? ` · ${orgId}` : ''} · Portcullis console`;
  }, [page, orgId]);

  if (checking) return html`<main><p>Checking the token…</p></main>`;
  // The playground asks only the public decision API: it needs no token.
  if (!who && page.id !== 'playground') return html`<${SignIn} onSignedIn=${setWho} />`;

  const signOut = () => {
    session.token = null;
    setWho(null);
  };
  const Page = page.component;
  return html`
    <header class="top">
      <a class="brand" href=${pageLink('settings', orgId)}>Portcullis</a>
      <nav aria-label="Console">
        <ul>
          ${PAGES.map((p) => html`<li><a href=${pageLink(p.id, orgId)} aria-current=${p.id === page.id ? 'page' : undefined}>${p.title}</a></li>`)}
        </ul>
      </nav>
      ${orgId && html`<p class="viewing">Organization <strong>${orgId}</strong></p>`}
      ${
        who
          ? html`<div class="who"><span>Signed in as <strong>${who.name}</strong> (${who.scopes.join(', ')})</span>
            <button type="button" class="secondary" onClick=${signOut}>Sign out</button></div>`
          : html`<div class="who"><button type="button" class="secondary" onClick=${() => navigate('settings')}>Sign in</button></div>`
      }
    </header>
    <main id="main">
      <${Page} who=${who} params=${route.params} />
    </main>
  `;
}

const root = document.getElementById('app');
root.replaceChildren();
render(html`<${App} />`, root);
