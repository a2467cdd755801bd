import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API server serves the built files from the Python package (tunix_rt/web), so the
// build goes straight there. `npm run dev` proxies /api to a server on the default port.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/tunix_rt/web",
    emptyOutDir: true,
    rolldownOptions: {
      output: {
        // React, the router and the query client change rarely: their own chunk keeps the
        // app's chunk small and lets the browser cache them across releases.
        codeSplitting: { groups: [{ name: "vendor", test: /node_modules/ }] },
      },
    },
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
    },
  },
});
