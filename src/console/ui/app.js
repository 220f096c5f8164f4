// The console's shell: sign-in, the navigation between the pages, and which page shows.
// The token's scopes (GET /v1/token) decide what each page enables.
import { api, session } from './api.js';
import { currentRoute, html, navigate, render, useEffect, useState } from './lib.js';
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

function useRoute() {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

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
  useEffect(() => {
    document.title = `${page.title} · Portcullis console`;
  }, [page]);

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
      <a class="brand" href="#/settings">Portcullis</a>
      <nav aria-label="Console">
        <ul>
          ${PAGES.map((p) => html`<li><a href="#/${p.id}" aria-current=${p.id === page.id ? 'page' : undefined}>${p.title}</a></li>`)}
        </ul>
      </nav>
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
