// `npm run generate` (also run before dev, build and typecheck): the typed SDK in src/client/
// (git-ignored, never edited by hand) from the committed openapi.json.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: '../openapi.json',
  output: 'src/client',
  plugins: [
    '@hey-api/typescript',
    '@hey-api/sdk',
    // Same origin: the app is served by the API itself under /app/.
    { name: '@hey-api/client-fetch', baseUrl: false },
  ],
  logs: { level: 'warn', file: false },
});
