// Sign-in: an admin token, checked with GET /v1/token, kept for this tab only.
import { api, session } from '../api.js';
import { html, useState } from '../lib.js';
import { ErrorNote } from '../components/notes.js';

export function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    session.token = token.trim();
    try {
      onSignedIn(await api.whoami());
    } catch (e) {
      session.token = null;
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <main id="main" class="signin">
      <h1>Portcullis console</h1>
      <p>Sign in with an admin token. Its scopes decide what you can see and change; it is kept in this tab only.</p>
      <form onSubmit=${submit}>
        <label for="token">Admin token</label>
        <input id="token" type="password" autocomplete="off" required value=${token} onInput=${(e) => setToken(e.target.value)} />
        <button type="submit" disabled=${busy}>Sign in</button>
      </form>
      <${ErrorNote} error=${error} />
      <p><a href="#/playground">Open the playground</a> (no token needed).</p>
    </main>
  `;
}
