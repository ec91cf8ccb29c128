// Home: the server's health line.
import { api, t } from "./api.js";

const h = document.getElementById("health");
try {
  const r = await api("/healthz");
  h.textContent = `✓ ${t("healthy")}: ${r.database}, ${r.migrations}`; h.className = "ok";
} catch (e) { h.textContent = `✗ ${t("unhealthy")}: ${e.message}`; h.className = "bad"; }
