// Built into dist/ and served by the API under /app/ (same origin). `npm run dev` serves the app
// on http://127.0.0.1:5173/app/ and proxies the API's paths to a running API (API_URL, default
// http://127.0.0.1:8000), so the session cookie (Path=/auth) and every call stay same-origin.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = process.env.API_URL ?? 'http://127.0.0.1:8000';
// The API's top-level paths (a RegExp key: /me must not catch /media); /app/ itself is Vite's.
const apiPaths = '^/(auth|me|videos|jobs|job-kinds|search|webhooks|playback|health)(/|\\?|$)';
const proxy = { [apiPaths]: { target: api, changeOrigin: false } };

export default defineConfig({
  base: '/app/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy,
  },
  preview: {
    host: '127.0.0.1',
    proxy,
  },
});
