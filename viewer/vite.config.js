// Vite build of the viewer page (`npm run build` -> dist/). Relative asset paths: the page works from any
// directory it is served from.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      // h5web's dependencies carry React Server Components' "use client" markers, meaningless in a page.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
