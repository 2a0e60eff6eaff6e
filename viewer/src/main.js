// h5web on an HDF REST API endpoint (hslambda's front door, or HSDS): a bar to choose the endpoint, the
// domain and the credentials, then h5web's App with its HSDS provider. The browser talks to the endpoint
// directly (cross-origin: the function answers CORS preflights as HSDS does). Defaults come from
// ./config.json, served by `hslambda view` (the front door's port: the endpoint is that port on the host this
// page was loaded from; the domain to open); ?endpoint=...&domain=...&user=... in the page's URL override them.
// Plain React.createElement calls: no JSX, so the build needs nothing but Vite.
import { createElement as h, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { App, HsdsProvider, buildBasicAuthHeader, createBasicFetcher } from '@h5web/app';
import '@h5web/app/styles.css';
import './style.css';

async function defaults() {
  let config = {};
  try {
    const rsp = await fetch('./config.json');
    if (rsp.ok) config = await rsp.json();
  } catch {
    // no config.json (the page served by something else): the fields start empty
  }
  const query = new URLSearchParams(window.location.search);
  const { protocol, hostname } = window.location;
  const served = config.port ? `${protocol}//${hostname}:${config.port}` : '';
  return {
    endpoint: query.get('endpoint') || config.endpoint || served,
    domain: query.get('domain') || config.domain || '',
    username: query.get('user') || '',
  };
}

function Field({ label, name, value, onChange, type = 'text', size = 24 }) {
  return h('label', null, label, ' ',
    h('input', { name, type, value, size, onChange: (e) => onChange(e.target.value) }));
}

function Viewer({ initial }) {
  const [form, setForm] = useState({ ...initial, password: '' });
  const [opened, setOpened] = useState(null);
  const set = (key) => (value) => setForm({ ...form, [key]: value });

  function open(event) {
    event.preventDefault();
    const endpoint = form.endpoint.replace(/\/+$/, '');
    const headers = form.username ? buildBasicAuthHeader(form.username, form.password) : {};
    setOpened({
      endpoint,
      domain: form.domain,
      fetcher: createBasicFetcher({ headers }),
      key: Date.now(),
    });
    const query = new URLSearchParams({ endpoint, domain: form.domain });
    if (form.username) query.set('user', form.username);
    window.history.replaceState(null, '', `?${query}`);
  }

  return h('div', { className: 'viewer' },
    h('form', { className: 'bar', onSubmit: open },
      h('strong', null, 'hslambda'),
      h(Field, { label: 'Endpoint', name: 'endpoint', value: form.endpoint, onChange: set('endpoint'), size: 28 }),
      h(Field, { label: 'Domain', name: 'domain', value: form.domain, onChange: set('domain'), size: 32 }),
      h(Field, { label: 'User', name: 'username', value: form.username, onChange: set('username'), size: 12 }),
      h(Field, { label: 'Password', name: 'password', type: 'password', value: form.password,
        onChange: set('password'), size: 12 }),
      h('button', { type: 'submit' }, 'Open')),
    opened
      ? h('div', { className: 'app' },
        h(HsdsProvider, {
          key: opened.key,
          url: opened.endpoint,
          filepath: opened.domain,
          fetcher: opened.fetcher,
        }, h(App, null)))
      : h('p', { className: 'hint' },
        'Give the domain (e.g. /home/alice/demo.h5) and, if the server has users, a user name and password; then Open.'));
}

function Root() {
  const [initial, setInitial] = useState(null);
  useEffect(() => {
    defaults().then(setInitial);
  }, []);
  return initial ? h(Viewer, { initial }) : null;
}

createRoot(document.getElementById('root')).render(h(StrictMode, null, h(Root)));
