/** The agent console at /console/: one page, no inline script or style (strict CSP). */
import { ConsoleApp } from "./app";

const root = document.getElementById("app");
if (root) void new ConsoleApp(root).start();
