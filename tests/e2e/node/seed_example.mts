// The seed's "Frontend Integration" example, run under Node against a live server.
// Between the markers the code is the seed's, character for character.
const saved = new Map<string, string>();
Object.assign(globalThis, {
  localStorage: {
    setItem: (key: string, value: string) => saved.set(key, value),
    getItem: (key: string) => saved.get(key) ?? null,
  },
});
const email = process.env.SEED_EMAIL ?? '';
const password = process.env.SEED_PASSWORD ?? '';

// --- seed example start ---
// Login
const { access_token, refresh_token } = await fetch(
  'http://localhost:8000/api/v1/auth/login',
  {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password })
  }
).then(r => r.json());

// Store tokens
localStorage.setItem('access_token', access_token);
localStorage.setItem('refresh_token', refresh_token);

// Authenticated request
const profile = await fetch(
  'http://localhost:8000/api/v1/auth/me',
  {
    headers: {
      'Authorization': `Bearer ${access_token}`
    }
  }
).then(r => r.json());
// --- seed example end ---

console.log(JSON.stringify({ profile, stored: saved.get('refresh_token') === refresh_token }));
