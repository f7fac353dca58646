// Builds the widget into chat_service/web/static/: the chat bundle under a content-hashed name,
// then the loader (widget.js) that knows that name, the agent console (script and stylesheet,
// both content-hashed), then manifest.json for the Python server.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "chat_service", "web", "static");
const LICENSES = "third-party-licenses.txt";
// Packages that end up in the bundle; their licences ship beside it.
const BUNDLED = [
  "socket.io-client",
  "socket.io-parser",
  "engine.io-client",
  "engine.io-parser",
  "@socket.io/component-emitter",
];

// The server (python-engineio) speaks HTTP long-polling and WebSocket only, so the WebTransport
// transport engine.io-client registers can never be used: leave it out of the bundle. Long-polling
// uses engine.io-client's own fetch() transport (`Fetch`, documented beside `XHR`), which every
// browser we support has and which is smaller than the XMLHttpRequest one; `withCredentials`
// still decides whether cookies go (the widget: never; the console: its session cookie).
const pollingAndWebSocket = {
  name: "polling-and-websocket",
  setup(build) {
    // Unused, but its module registers an unload handler at import, which keeps it in the bundle:
    // it has no effect we need (it aborts XMLHttpRequests, and we make none).
    build.onResolve({ filter: /^\.\/transports\/polling-xhr(\.node)?\.js$/ }, (args) => ({
      path: join(args.resolveDir, "transports", "polling-xhr.js"),
      sideEffects: false,
    }));
    build.onLoad({ filter: /engine\.io-client[\\/]build[\\/]esm[\\/]transports[\\/]index\.js$/ }, (args) => ({
      contents:
        'import { Fetch } from "./polling-fetch.js";\n' +
        'import { WS } from "./websocket.node.js";\n' +
        "export const transports = { websocket: WS, polling: Fetch };\n",
      resolveDir: dirname(args.path),
    }));
  },
};

// The widget sends and receives JSON only (files go over HTTP, not the socket), so socket.io's
// binary attachments can never occur in it: its binary helpers are replaced by text-only ones. A
// binary packet from a server would fail to decode instead of being reassembled.
const textOnly = {
  name: "text-only-socket-io",
  setup(build) {
    build.onLoad({ filter: /socket\.io-parser[\\/]build[\\/]esm[\\/]is-binary\.js$/ }, () => ({
      contents: "export const isBinary = () => false;\nexport const hasBinary = () => false;\n",
    }));
    build.onLoad({ filter: /socket\.io-parser[\\/]build[\\/]esm[\\/]binary\.js$/ }, () => ({
      contents:
        "export const deconstructPacket = (packet) => ({ packet, buffers: [] });\n" +
        'export const reconstructPacket = () => { throw new Error("binary packets are not supported"); };\n',
    }));
    build.onLoad({ filter: /engine\.io-parser[\\/]build[\\/]esm[\\/]contrib[\\/]base64-arraybuffer\.js$/ }, () => ({
      contents:
        'const binary = () => { throw new Error("binary packets are not supported"); };\n' +
        "export const encode = binary;\nexport const decode = binary;\n",
    }));
  },
};

const common = {
  bundle: true,
  minify: true,
  write: false,
  target: ["es2020"],
  platform: "browser",
  legalComments: "none",
  logLevel: "warning",
  plugins: [pollingAndWebSocket],
};

// `node build.mjs --analyze`: also print what the chat bundle is made of (bytes per input file).
const analyze = process.argv.includes("--analyze");

async function build(options) {
  const result = await esbuild.build({ ...common, metafile: analyze, ...options });
  if (analyze && options.entryPoints[0].endsWith(join("chat", "index.ts"))) {
    console.log(await esbuild.analyzeMetafile(result.metafile, { verbose: false }));
  }
  return result.outputFiles[0].contents;
}

async function licenses() {
  const parts = [];
  for (const name of BUNDLED) {
    const dir = join(here, "node_modules", name);
    const { version } = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    const file = (await readdir(dir)).find((f) => /^licen[cs]e/i.test(f));
    parts.push(`${name} ${version}\n\n${file ? await readFile(join(dir, file), "utf8") : "MIT"}`);
  }
  return parts.join("\n" + "-".repeat(72) + "\n");
}

const chat = await build({
  entryPoints: [join(here, "src", "chat", "index.ts")],
  format: "esm",
  // The widget's byte budget: socket.io-client's private `_name` properties get short names (about
  // 300 B gzipped). Nothing outside the bundle reads them; `_placeholder` is the socket.io binary
  // wire format's own key, so it stays. Quoted uses (`this.io["_destroy"]`) are renamed alike.
  mangleProps: /^_[A-Za-z]/,
  mangleQuoted: true,
  reserveProps: /^_placeholder$/,
  plugins: [pollingAndWebSocket, textOnly],
  banner: { js: `/*! chat-service widget; bundles socket.io-client (MIT), see ${LICENSES} */` },
});
const hash = createHash("sha256").update(chat).digest("hex").slice(0, 12);
const bundle = `chat-${hash}.js`;
const loader = await build({
  entryPoints: [join(here, "src", "loader.ts")],
  format: "iife",
  define: { BUNDLE: JSON.stringify(bundle) },
});

const consoleScript = await build({
  entryPoints: [join(here, "src", "console", "index.ts")],
  format: "esm",
  banner: { js: `/*! chat-service agent console; bundles socket.io-client (MIT), see ${LICENSES} */` },
});
const consoleStyle = await build({ entryPoints: [join(here, "src", "console", "console.css")], loader: { ".css": "css" } });
const hashed = (prefix, ext, body) => `${prefix}-${createHash("sha256").update(body).digest("hex").slice(0, 12)}.${ext}`;
const consoleFiles = { script: hashed("console", "js", consoleScript), style: hashed("console", "css", consoleStyle) };

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await writeFile(join(out, bundle), chat);
await writeFile(join(out, "widget.js"), loader);
await writeFile(join(out, LICENSES), await licenses());
await writeFile(join(out, consoleFiles.script), consoleScript);
await writeFile(join(out, consoleFiles.style), consoleStyle);
const manifest = { loader: "widget.js", bundle, licenses: LICENSES, console: consoleFiles };
await writeFile(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`widget built: widget.js ${loader.length} B, ${bundle} ${chat.length} B -> ${out}`);
console.log(`console built: ${consoleFiles.script} ${consoleScript.length} B, ${consoleFiles.style} ${consoleStyle.length} B`);
