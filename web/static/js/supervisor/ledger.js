// The ledger's trial balance (试算平衡): every account's posted and pending sums, which must
// net to zero; read-only.
import { $, api, el, failed, fill, t, table, yuan } from "../staff/ui.js";

const box = $("#trial-balance");

async function load() {
  try {
    const tb = await api("GET", "/ledger/trial-balance");
    fill(box,
      el("p", { id: "balance-state", class: tb.balanced ? "ok" : "bad" },
        tb.balanced ? t("balanced") : t("not_balanced"), " · ", t("net"), ": ", yuan(tb.net_fen)),
      table([
        { label: t("kind"), value: ([k]) => k },
        { label: t("debits_posted"), value: ([, v]) => yuan(v.debits_posted ?? v.debits ?? 0), num: true },
        { label: t("credits_posted"), value: ([, v]) => yuan(v.credits_posted ?? v.credits ?? 0), num: true },
      ], Object.entries(tb.by_kind || {}).map(([k, v]) => [k, typeof v === "object" ? v : { debits_posted: v }]), { caption: t("by_kind") }),
      table([
        { label: t("account"), value: (r) => r.account_id, num: true },
        { label: t("kind"), value: (r) => r.kind },
        { label: t("debits_posted"), value: (r) => yuan(r.debits_posted), num: true },
        { label: t("credits_posted"), value: (r) => yuan(r.credits_posted), num: true },
        { label: t("debits_pending"), value: (r) => yuan(r.debits_pending), num: true },
        { label: t("credits_pending"), value: (r) => yuan(r.credits_pending), num: true },
        { label: t("net_debit"), value: (r) => yuan(r.net_debit_fen), num: true },
      ], tb.rows, { caption: t("accounts") }),
      el("p", {}, t("totals"), ": ", t("debits_posted"), " ", yuan(tb.debits_posted), " · ", t("credits_posted"), " ", yuan(tb.credits_posted)));
  } catch (err) { failed(box, err); }
}

load();
